"""Help-app test data: anonymous sessions with their tokens (`Visitor`), answered turns, feedback."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from sitehelp.models import HelpFeedback, HelpMessage, HelpSession
from sitehelp.tokens import token_issue

API = "/api/v1/help"


@dataclass
class Visitor:
    session: HelpSession
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"HTTP_X_HELP_SESSION": self.token}


def make_visitor(**fields: Any) -> Visitor:
    session = HelpSession.objects.create(last_activity_at=timezone.now(), **fields)
    return Visitor(session=session, token=token_issue(session_id=session.id))


def make_message(session: HelpSession | None, **fields: Any) -> HelpMessage:
    values: dict[str, Any] = {
        "question": "How do I reset my password?",
        "answer": "Use the link on the sign-in page.",
        "status": HelpMessage.Status.COMPLETE,
        "input_tokens": 100,
        "output_tokens": 50,
        "cost": Decimal("0.001"),
        "channel": HelpMessage.Channel.WIDGET if session else HelpMessage.Channel.PAGE,
        **fields,
    }
    return HelpMessage.objects.create(session=session, **values)


def make_feedback(message: HelpMessage, rating: int = 1, comment: str = "") -> HelpFeedback:
    return HelpFeedback.objects.create(message=message, rating=rating, comment=comment)
