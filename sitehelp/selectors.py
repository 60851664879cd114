"""Reads: a session through its token, its messages, its export, feedback statistics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from backend import errors
from sitehelp.errors import ErrorCode
from sitehelp.models import HelpFeedback, HelpMessage, HelpSession
from sitehelp.tokens import token_session_id


def session_get(*, session_id: Any, token: str, active: bool = True) -> HelpSession:
    """The session `token` was issued for, when it is `session_id`.

    401 without a token or with a bad one; 404 when the token names another session (or the
    session is gone: a foreign id looks like an unknown one); 401 `session_expired` when `active`
    and the session has been idle longer than HELP_SESSION_IDLE_SECONDS.
    """
    if not token:
        raise errors.NotAuthenticated(
            "Send the session's token in X-Help-Session.", code=ErrorCode.SESSION_TOKEN_MISSING
        )
    token_id = token_session_id(token)
    if token_id is None:
        raise errors.NotAuthenticated(
            "The session token is invalid or has expired.", code=ErrorCode.INVALID_SESSION_TOKEN
        )
    session = HelpSession.objects.filter(id=session_id).first() if token_id == str(session_id) else None
    if session is None:
        raise errors.NotFound("No such session.")
    if active and session_is_idle(session):
        raise errors.NotAuthenticated("The session has expired. Start a new one.", code=ErrorCode.SESSION_EXPIRED)
    return session


def session_is_idle(session: HelpSession) -> bool:
    return timezone.now() - session.last_activity_at > timedelta(seconds=settings.HELP_SESSION_IDLE_SECONDS)


def session_tokens_used(*, session: HelpSession) -> int:
    totals = HelpMessage.objects.filter(session=session).aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    return int(totals["i"] or 0) + int(totals["o"] or 0)


def message_list(*, session: HelpSession) -> QuerySet[HelpMessage]:
    return HelpMessage.objects.filter(session=session).select_related("feedback").order_by("created_at")


def message_error_code(*, message_id: Any) -> str:
    """The error code an answer ended with ("" when it did not fail)."""
    return str(HelpMessage.objects.filter(id=message_id).values_list("error_code", flat=True).first() or "")


def session_export(*, session: HelpSession) -> dict[str, Any]:
    """Everything stored about a session, as the visitor may download it."""
    messages = []
    for message in message_list(session=session):
        feedback = getattr(message, "feedback", None)
        messages.append(
            {
                "id": str(message.id),
                "created_at": message.created_at.isoformat(),
                "question": message.question,
                "answer": message.answer,
                "status": message.status,
                "feedback": {"rating": feedback.rating, "comment": feedback.comment} if feedback else None,
            }
        )
    return {
        "session": {
            "id": str(session.id),
            "created_at": session.created_at.isoformat(),
            "last_activity_at": session.last_activity_at.isoformat(),
            "language": session.language,
            "consent_mode": session.consent_mode,
            "origin": session.origin,
        },
        "messages": messages,
        "retention_days": settings.HELP_RETENTION_DAYS,
    }


def feedback_statistics(*, queryset: QuerySet[HelpFeedback] | None = None) -> dict[str, Any]:
    """Counts of helpful and unhelpful ratings, the share helpful, and how many left a comment."""
    queryset = queryset if queryset is not None else HelpFeedback.objects.all()
    stats = queryset.aggregate(
        total=Count("id"),
        helpful=Count("id", filter=Q(rating=1)),
        unhelpful=Count("id", filter=Q(rating=-1)),
        commented=Count("id", filter=~Q(comment="")),
        average=Avg("rating"),
    )
    stats["helpful_share"] = round(stats["helpful"] / stats["total"], 3) if stats["total"] else None
    return stats
