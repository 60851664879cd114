"""Session tokens: `TimestampSigner(salt=...).sign(session id)`, refused after HELP_SESSION_MAX_AGE_SECONDS.

The token is the session's capability: only its holder reads, exports, continues or erases
the conversation; the session id alone gets nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing

TOKEN_SALT = "sitehelp.session"  # noqa: S105 - a signing namespace, not a secret


def token_issue(*, session_id: Any) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(str(session_id))


def token_session_id(token: str) -> str | None:
    """The session id a token was issued for, or None (bad signature, too old)."""
    try:
        return signing.TimestampSigner(salt=TOKEN_SALT).unsign(token, max_age=settings.HELP_SESSION_MAX_AGE_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
