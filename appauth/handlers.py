"""The one model hook of the accounts app: `is_active` turned off → access revoked.

Deactivation can come from anywhere that saves a user (the service, the admin form, a
script), so the revocation hangs on the save itself rather than on each caller. It runs
after commit, so a rolled-back deactivation revokes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_init, post_save

from appauth.models import AppUser


def _remember_active(sender: type[AppUser], instance: AppUser, **kwargs: Any) -> None:
    instance._was_active = instance.is_active  # type: ignore[attr-defined]


def _revoke_on_deactivation(sender: type[AppUser], instance: AppUser, created: bool, **kwargs: Any) -> None:
    was_active = getattr(instance, "_was_active", True)
    instance._was_active = instance.is_active  # type: ignore[attr-defined]
    if created or instance.is_active or not was_active:
        return
    from appauth.services.accounts import user_access_revoke

    transaction.on_commit(lambda: user_access_revoke(user=instance))


def connect() -> None:
    post_init.connect(_remember_active, sender=AppUser, dispatch_uid="appauth.remember_active")
    post_save.connect(_revoke_on_deactivation, sender=AppUser, dispatch_uid="appauth.revoke_on_deactivation")
