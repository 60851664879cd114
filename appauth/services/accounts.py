"""Deactivation: a deactivated account keeps its data but can do nothing any more.

`user_deactivate` is the service (admin action, API, shell). Whatever turns `is_active` off
through `save()` — this service, the admin's change form, a script — ends in
`user_access_revoke` once the change commits (the post_save hook in `appauth.handlers`):
every token and browser session dies, and the user's running generations in every app are
stopped through the streaming engine's stop facility (the same as `POST …/stop/`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from appauth.models import AppUser, AuthEvent
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.tokens import token_revoke_all
from backend.streaming.engine import stop_user_generations

logger = logging.getLogger(__name__)


@transaction.atomic
def user_deactivate(*, user: AppUser, client: ClientInfo | None = None, by: AppUser | None = None) -> None:
    """Deactivate the account; its access is revoked when the transaction commits."""
    if not user.is_active:
        return
    user.is_active = False
    user.save(update_fields=["is_active"])
    auth_event_record(
        kind=AuthEvent.Kind.ACCOUNT_DEACTIVATED,
        user=user,
        client=client,
        details={"by": str(by.pk) if by is not None else ""},
    )


def user_access_revoke(*, user: AppUser) -> tuple[int, int]:
    """Revoke every token and session and stop every running generation; returns (tokens, generations)."""
    tokens = token_revoke_all(user=user)
    AppUser.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    generations = stop_user_generations(user)
    logger.info("account access revoked", extra={"user_id": str(user.pk), "tokens": tokens, "generations": generations})
    return tokens, generations
