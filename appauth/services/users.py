"""Registration, email verification, profile and account deletion."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from appauth import selectors
from appauth.avatars import avatar_process
from appauth.errors import InvalidLinkToken
from appauth.models import AppUser, AuthEvent, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.notifications import NO_ACCOUNT, email_enqueue
from appauth.services.passwords import password_validate
from appauth.services.reauth import user_reauthenticate
from appauth.services.signup import invitation_accept, signup_account_fields, signup_check
from appauth.tokens import email_verification_token_generator
from backend import ratelimit
from backend.errors import RateLimited


def user_register(
    *,
    email: str,
    password: str,
    client: ClientInfo,
    first_name: str = "",
    last_name: str = "",
    invitation: str = "",
) -> None:
    """Register an account and mail a verification link; enumeration-safe.

    The outcome is the same for a new and an existing email (no return value, same work:
    the password is validated and hashed either way). For an existing email the owner gets
    an "already registered" mail instead. Raises ValidationFailed for a weak password, and
    the sign-up policy's errors (checked before the address is looked up, so they reveal
    nothing about accounts). Under the "approval" policy the account starts inactive and is
    mailed its verification link once staff approve it.
    """
    email = normalize_email_address(email)
    candidate = AppUser(email=email, first_name=first_name, last_name=last_name)
    password_validate(password=password, user=candidate, field="password")
    accepted_invitation = signup_check(email=email, invitation_code=invitation or None)
    existing = selectors.user_get_by_email(email=email)
    if existing is None:
        try:
            with transaction.atomic():
                user = AppUser.objects.create_user(
                    email, password, first_name=first_name, last_name=last_name, **signup_account_fields()
                )
                invitation_accept(invitation=accepted_invitation, user=user)
                auth_event_record(kind=AuthEvent.Kind.REGISTERED, user=user, client=client)
                if user.is_active:
                    email_enqueue("send_verification_email", str(user.pk))
            return
        except IntegrityError:  # a concurrent registration of the same email won
            existing = selectors.user_get_by_email(email=email)
            if existing is None:
                raise
    else:
        make_password(password)  # the hash the new-account path pays, so timing matches
    auth_event_record(kind=AuthEvent.Kind.REGISTER_DUPLICATE, user=existing, client=client)
    email_enqueue("send_already_registered_email", str(existing.pk))


def user_verify_email(*, uidb64: str, token: str, client: ClientInfo) -> AppUser:
    """Mark the email verified from an emailed link; raises InvalidLinkToken (also once used)."""
    user = selectors.user_get_from_uid(uidb64=uidb64)
    if user is None or not email_verification_token_generator.check_token(user, token):
        raise InvalidLinkToken()
    user.email_verified = True
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified", "email_verified_at"])
    auth_event_record(kind=AuthEvent.Kind.EMAIL_VERIFIED, user=user, client=client)
    return user


def user_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Mail a new verification link if an unverified active account has this email.

    Same answer whatever the state; beyond the per-address limit the mail is dropped silently.
    Timing-safe like the password reset: a task is enqueued either way (for `NO_ACCOUNT` when
    no unverified active account has the address, which sends nothing).
    """
    email = normalize_email_address(email)
    rate = settings.AUTH_RATE_LIMITS["resend_verification_email"]
    if not ratelimit.hit("resend_verification_email", email, rate).allowed:
        return
    user = selectors.user_get_by_email(email=email)
    qualifies = user is not None and user.is_active and not user.email_verified
    email_enqueue("send_verification_email", str(user.pk) if user is not None and qualifies else NO_ACCOUNT)


def user_profile_update(
    *,
    user: AppUser,
    client: ClientInfo,
    first_name: str | None = None,
    last_name: str | None = None,
    avatar: UploadedFile | None = None,
    remove_avatar: bool = False,
) -> AppUser:
    """Update names and avatar only (email, flags and password are changed elsewhere)."""
    changed: list[str] = []
    if first_name is not None:
        user.first_name = first_name
        changed.append("first_name")
    if last_name is not None:
        user.last_name = last_name
        changed.append("last_name")
    old_avatar_name = user.avatar.name if user.avatar else None
    if avatar is not None:
        user.avatar.save("avatar.png", avatar_process(upload=avatar), save=False)
        changed.append("avatar")
    elif remove_avatar and old_avatar_name:
        user.avatar = None
        changed.append("avatar")
    if not changed:
        return user
    with transaction.atomic():
        user.save(update_fields=changed)
        auth_event_record(kind=AuthEvent.Kind.PROFILE_UPDATED, user=user, client=client, details={"fields": changed})
        if "avatar" in changed and old_avatar_name:
            storage = user.avatar.storage
            transaction.on_commit(lambda: storage.delete(old_avatar_name))
    return user


def user_delete(
    *, user: AppUser, client: ClientInfo, password: str | None = None, google_id_token: str | None = None
) -> None:
    """Delete the account after re-authentication, with its tokens, identities and avatar.

    Accounts with a password must give it; Google-only accounts give a fresh id_token of a
    linked identity. The audit trail keeps its events (with the account id in `subject_id`).
    """
    decision = ratelimit.hit("account_delete_user", str(user.pk), settings.AUTH_RATE_LIMITS["account_delete_user"])
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
    user_reauthenticate(user=user, password=password, google_id_token=google_id_token)
    avatar_name = user.avatar.name if user.avatar else None
    storage = user.avatar.storage
    with transaction.atomic():
        # The event outlives the user: its FK becomes NULL, `subject_id` keeps the account id.
        auth_event_record(kind=AuthEvent.Kind.ACCOUNT_DELETED, user=user, client=client)
        user.delete()
        if avatar_name:
            transaction.on_commit(lambda: storage.delete(avatar_name))
