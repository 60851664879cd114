"""Widget sessions: started by the visitor's first message, held by a signed, expiring token (`sitehelp.tokens`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sitehelp.models import HelpSession
from sitehelp.services import limits
from sitehelp.tokens import token_issue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedSession:
    session: HelpSession
    token: str

    @property
    def expires_at(self) -> datetime:
        return session_expires_at(self.session)


def session_expires_at(session: HelpSession) -> datetime:
    return session.last_activity_at + timedelta(seconds=settings.HELP_SESSION_IDLE_SECONDS)


def session_create(*, language: str, consent_mode: str, origin: str, ip: str) -> IssuedSession:
    """A new session and its token; rate-limited per IP (HELP_RATE_SESSION_IP)."""
    limits.rate_check("session_ip", ip, settings.HELP_RATE_SESSION_IP)
    session = HelpSession.objects.create(
        language=language, consent_mode=consent_mode, origin=origin[:255], last_activity_at=timezone.now()
    )
    logger.info("help session started", extra={"session_id": str(session.id), "language": language})
    return IssuedSession(session=session, token=token_issue(session_id=session.id))


@transaction.atomic
def session_delete(*, session: HelpSession) -> int:
    """Erase a session now, with its messages and their feedback. Returns the messages erased."""
    erased = session.messages.count()
    session_id = session.id
    session.delete()
    logger.info("help session erased by its visitor", extra={"session_id": str(session_id), "messages": erased})
    return erased
