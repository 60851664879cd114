"""Stream tickets: how a browser's `EventSource`, which cannot send an Authorization header,
resumes a stream of a token-authenticated user.

A ticket is signed (Django's signing, its own salt), names one user and one generation, expires
after STREAM_TICKET_SECONDS and opens one stream: it is spent on first use, so a ticket that
leaks through a proxy log or the browser history opens nothing. A client whose `EventSource`
errors asks for a new ticket and reopens with `?ticket=...&last_event_id=N`.
"""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from backend import errors

_SALT = "backend.streaming.ticket"


def ticket_issue(*, user_id: Any, scope: str, record_id: UUID) -> str:
    """A ticket for `user_id` to open the stream of `record_id` once, within STREAM_TICKET_SECONDS."""
    payload = {"u": str(user_id), "s": scope, "r": str(record_id), "n": secrets.token_urlsafe(12)}
    return signing.dumps(payload, salt=_SALT, compress=False)


def ticket_redeem(*, ticket: str, scope: str, record_id: UUID) -> str:
    """The user id a ticket was issued to; spends it. Raises NotAuthenticated when it is not valid here."""
    invalid = errors.NotAuthenticated(
        "The stream ticket is invalid, expired or already used.", code=errors.ErrorCode.INVALID_TICKET
    )
    try:
        payload = signing.loads(ticket, salt=_SALT, max_age=settings.STREAM_TICKET_SECONDS)
    except signing.BadSignature as exc:
        raise invalid from exc
    if not isinstance(payload, dict) or payload.get("s") != scope or payload.get("r") != str(record_id):
        raise invalid
    if not cache.add(f"stream:ticket:{payload['n']}", 1, settings.STREAM_TICKET_SECONDS + 5):
        raise invalid
    return str(payload["u"])
