"""The append-only audit trail of authentication events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appauth.models import AppUser, AuthEvent


@dataclass(frozen=True)
class ClientInfo:
    """Who is calling, as far as the request tells: see `backend.net` for the IP rule."""

    ip: str
    user_agent: str = ""


def auth_event_record(
    *,
    kind: AuthEvent.Kind,
    client: ClientInfo | None,
    user: AppUser | None = None,
    email: str = "",
    details: dict[str, Any] | None = None,
) -> AuthEvent:
    """Append one event. `details` must never hold a secret (no passwords, tokens or links)."""
    return AuthEvent.objects.create(
        kind=kind,
        user=user,
        subject_id=user.pk if user is not None else None,
        email=(email or (user.email if user is not None else ""))[:254],
        ip_address=client.ip if client is not None else None,
        user_agent=client.user_agent[:512] if client is not None else "",
        details=details or {},
    )
