"""Visitors' ratings of answers (switched off with HELP_FEEDBACK_ENABLED)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from backend import errors
from sitehelp.errors import ErrorCode
from sitehelp.models import HelpFeedback, HelpMessage, HelpSession

logger = logging.getLogger(__name__)


def feedback_submit(*, session: HelpSession, message_id: Any, rating: int, comment: str) -> HelpFeedback:
    """Rate an answer of the session (a second rating replaces the first).

    404 when feedback is switched off or the message is not the session's; 409 while the
    answer is still streaming.
    """
    if not settings.HELP_FEEDBACK_ENABLED:
        raise errors.NotFound("Feedback is not collected.", code=ErrorCode.FEEDBACK_DISABLED)
    message = HelpMessage.objects.filter(session=session, id=message_id).first()
    if message is None:
        raise errors.NotFound("No such message.")
    if message.status == HelpMessage.Status.STREAMING:
        raise errors.Conflict("The answer has not finished yet.", code=ErrorCode.ANSWER_NOT_FINISHED)
    feedback, _ = HelpFeedback.objects.update_or_create(
        message=message, defaults={"rating": rating, "comment": comment.strip()}
    )
    logger.info("help feedback", extra={"session_id": str(session.id), "message_id": str(message.id), "rating": rating})
    return feedback
