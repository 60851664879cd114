"""Knox tokens: issue (with the per-user limit), revoke one, revoke all or all others."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db.models.functions import Coalesce
from django.utils import timezone
from knox.settings import knox_settings

from appauth import selectors
from appauth.models import AppUser, AuthEvent, AuthToken
from appauth.services.audit import ClientInfo, auth_event_record


def token_create(*, user: AppUser, client: ClientInfo, device_name: str = "") -> tuple[AuthToken, str]:
    """Issue a fresh token; returns (row, the token itself — shown once, never stored).

    Expired tokens of the user are purged. At `AUTH_TOKEN_LIMIT_PER_USER` live tokens the
    least recently used ones are evicted, so a login never fails for having too many devices.
    """
    now = timezone.now()
    AuthToken.objects.filter(user=user, expiry__lte=now).delete()
    limit = int(settings.AUTH_TOKEN_LIMIT_PER_USER)
    if limit > 0:
        by_recency = AuthToken.objects.filter(user=user).order_by(Coalesce("last_used_at", "created").desc())
        evicted = list(by_recency.values_list("pk", flat=True)[limit - 1 :])
        if evicted:
            AuthToken.objects.filter(pk__in=evicted).delete()
    instance, token = AuthToken.objects.create(
        user=user,
        expiry=knox_settings.TOKEN_TTL,
        prefix=knox_settings.TOKEN_PREFIX,
        device_name=device_name[:100],
        ip_address=client.ip,
        user_agent=client.user_agent[:512],
    )
    return instance, token


def token_revoke(*, user: AppUser, token_id: uuid.UUID, client: ClientInfo) -> None:
    """Revoke one of the user's own tokens (NotFound for anyone else's)."""
    token = selectors.token_get(user=user, token_id=token_id)
    token.delete()
    auth_event_record(kind=AuthEvent.Kind.TOKEN_REVOKED, user=user, client=client, details={"token_id": str(token_id)})


def token_revoke_all(*, user: AppUser, keep: AuthToken | None = None) -> int:
    """Delete every token of the user except `keep`; returns how many were deleted."""
    tokens = AuthToken.objects.filter(user=user)
    if keep is not None:
        tokens = tokens.exclude(pk=keep.pk)
    deleted, _ = tokens.delete()
    return deleted
