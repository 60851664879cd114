"""Password reset (by emailed link) and change (with the current password).

A reset revokes every token (and, through Django's session auth hash, every session) and
never logs in; a change keeps the calling token and revokes all others. Both send a
notice without secrets. Django's validators run on every new password; nothing is
trimmed or truncated.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from appauth import selectors
from appauth.errors import InvalidLinkToken, InvalidPassword
from appauth.models import AppUser, AuthEvent, AuthToken, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.login import login_lockout
from appauth.services.notifications import NO_ACCOUNT, email_enqueue
from appauth.services.tokens import token_revoke_all
from appauth.tokens import password_reset_token_generator
from backend import ratelimit
from backend.errors import RateLimited, ValidationFailed


def password_validate(*, password: str, user: AppUser, field: str) -> None:
    """Run `AUTH_PASSWORD_VALIDATORS`; raises ValidationFailed naming `field`."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(f"{field}: {exc.messages[0]}", details={field: list(exc.messages)}) from exc


def password_reset_request(*, email: str, client: ClientInfo) -> None:
    """Mail a reset link if an active account has this email; silent otherwise.

    Beyond `AUTH_RATE_LIMITS["password_reset_email"]` per address, requests are dropped
    silently (same answer) to stop inbox flooding. Does not touch the lockout.

    Timing-safe: a known and an unknown address cost the request the same work (one lookup,
    one audit event, one task enqueued); the task finds no active account for an unknown
    address (`NO_ACCOUNT`) and sends nothing. Rendering and sending happen in the worker.
    """
    email = normalize_email_address(email)
    if not ratelimit.hit("password_reset_email", email, settings.AUTH_RATE_LIMITS["password_reset_email"]).allowed:
        return
    user = selectors.user_get_by_email(email=email)
    account = user if user is not None and user.is_active else None
    auth_event_record(kind=AuthEvent.Kind.PASSWORD_RESET_REQUESTED, user=account, email=email, client=client)
    email_enqueue("send_password_reset_email", str(account.pk) if account is not None else NO_ACCOUNT)


@transaction.atomic
def password_reset_confirm(*, uidb64: str, token: str, new_password: str, client: ClientInfo) -> AppUser:
    """Set a new password from a reset link. Raises InvalidLinkToken or ValidationFailed.

    The token is single-use (it hashes the password) and expires after
    `PASSWORD_RESET_TIMEOUT`. Clears the login lockout and proves the mailbox, so the email
    counts as verified. All tokens are revoked; the caller is not logged in.
    """
    user = selectors.user_get_from_uid(uidb64=uidb64)
    if user is None or not password_reset_token_generator.check_token(user, token):
        raise InvalidLinkToken()
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.locked_until = None
    update_fields = ["password", "locked_until"]
    if not user.email_verified:
        user.email_verified = True
        user.email_verified_at = timezone.now()
        update_fields += ["email_verified", "email_verified_at"]
    user.save(update_fields=update_fields)
    revoked = token_revoke_all(user=user)
    login_lockout().clear(user.email, forget_history=True)
    event = auth_event_record(kind=AuthEvent.Kind.PASSWORD_RESET, user=user, client=client, details={"tokens": revoked})
    email_enqueue("send_password_changed_email", str(user.pk), event.pk)
    return user


@transaction.atomic
def password_change(
    *,
    user: AppUser,
    current_password: str,
    new_password: str,
    keep_token: AuthToken | None,
    client: ClientInfo,
) -> None:
    """Change the password; keeps `keep_token` (the caller's) and revokes every other token.

    Raises RateLimited (per account), InvalidPassword, or ValidationFailed. Accounts
    without a usable password (Google-only) set one through password reset instead.
    """
    decision = ratelimit.hit("password_change_user", str(user.pk), settings.AUTH_RATE_LIMITS["password_change_user"])
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
    if not user.check_password(current_password):
        raise InvalidPassword()
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoked = token_revoke_all(user=user, keep=keep_token)
    event = auth_event_record(
        kind=AuthEvent.Kind.PASSWORD_CHANGED, user=user, client=client, details={"tokens_revoked": revoked}
    )
    email_enqueue("send_password_changed_email", str(user.pk), event.pk)
