"""Sign-in with email + password or Google, and sign-out.

Lockout policy (see settings `AUTH_LOCKOUT_*`): failures are counted per normalised email,
whether or not an account exists, so a locked unknown address answers exactly like a
locked real one. The lock expires on its own, doubles with each repeat within a day, and
never blocks password reset or Google sign-in. A success clears only that account's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from appauth import selectors
from appauth.errors import (
    AccountLocked,
    GoogleAccountConflict,
    GoogleEmailMissing,
    GoogleEmailUnverified,
    InvalidCredentials,
)
from appauth.models import AppUser, AuthEvent, AuthToken, SocialIdentity, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.notifications import email_enqueue
from appauth.services.tokens import token_create, token_revoke_all
from backend import google_identity
from backend.errors import Conflict
from backend.ratelimit import Lockout


@dataclass(frozen=True)
class LoginResult:
    user: AppUser
    auth_token: AuthToken
    token: str  # the secret; returned to the client once


def login_lockout() -> Lockout:
    return Lockout(
        scope="login",
        threshold=settings.AUTH_LOCKOUT_THRESHOLD,
        window=settings.AUTH_LOCKOUT_WINDOW_SECONDS,
        base=settings.AUTH_LOCKOUT_BASE_SECONDS,
        maximum=settings.AUTH_LOCKOUT_MAX_SECONDS,
    )


def _login_complete(*, user: AppUser, client: ClientInfo, device_name: str, kind: AuthEvent.Kind) -> LoginResult:
    has_logged_in, known_device = selectors.user_has_logged_in_from(user=user, user_agent=client.user_agent)
    auth_token, token = token_create(user=user, client=client, device_name=device_name)
    user.last_login = timezone.now()
    user.last_login_ip = client.ip
    user.locked_until = None
    user.save(update_fields=["last_login", "last_login_ip", "locked_until"])
    event = auth_event_record(
        kind=kind,
        user=user,
        client=client,
        details={"token_id": str(auth_token.pk), "device_name": device_name[:100]},
    )
    if has_logged_in and not known_device:
        email_enqueue("send_new_device_email", str(user.pk), event.pk)
    return LoginResult(user=user, auth_token=auth_token, token=token)


def user_login(*, email: str, password: str, client: ClientInfo, device_name: str = "") -> LoginResult:
    """Exchange email + password for a new token.

    Raises `AccountLocked` (429) while the address is locked (also when this failure locks
    it) and `InvalidCredentials` for an unknown email, a wrong password or an inactive
    account alike. Unverified accounts may log in; the user payload flags them.
    """
    email = normalize_email_address(email)
    lockout = login_lockout()
    # The attempt is counted before the password hash runs, atomically: a parallel burst gets
    # at most AUTH_LOCKOUT_THRESHOLD passwords evaluated, the rest are refused unevaluated.
    locked_for = lockout.reserve(email)
    if locked_for:
        raise AccountLocked(retry_after=locked_for)
    # ModelBackend hashes the password against a dummy for unknown emails (similar timing).
    user = authenticate(request=None, email=email, password=password)
    if not isinstance(user, AppUser):
        _login_failed(email=email, client=client, lockout=lockout)
    lockout.clear(email, forget_history=True)
    with transaction.atomic():
        return _login_complete(user=user, client=client, device_name=device_name, kind=AuthEvent.Kind.LOGIN_SUCCEEDED)


def _login_failed(*, email: str, client: ClientInfo, lockout: Lockout) -> NoReturn:
    locked_for = lockout.register_failure(email, reserved=True)
    account = selectors.user_get_by_email(email=email)
    auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, user=account, email=email, client=client)
    if locked_for:
        auth_event_record(
            kind=AuthEvent.Kind.LOCKED_OUT, user=account, email=email, client=client, details={"seconds": locked_for}
        )
        if account is not None:
            account.locked_until = timezone.now() + timedelta(seconds=locked_for)
            account.save(update_fields=["locked_until"])
        raise AccountLocked(retry_after=locked_for)
    raise InvalidCredentials()


def user_login_google(*, id_token: str, client: ClientInfo, device_name: str = "") -> LoginResult:
    """Sign in (or up) with a Google id_token; see `backend.google_identity` for the checks.

    Accounts are found by Google's `sub`. A first Google sign-in links to the account with
    the same email only if Google verified that email; if that local account had never
    proved its email, its password is disabled and its tokens revoked (whoever registered it
    without owning the mailbox loses access). Not subject to the password lockout.
    """
    identity = google_identity.verify_id_token(id_token)
    try:
        with transaction.atomic():
            social = (
                SocialIdentity.objects.select_related("user")
                .filter(provider=SocialIdentity.Provider.GOOGLE, subject=identity.subject)
                .first()
            )
            if social is None:
                social = _google_identity_link(identity=identity, client=client)
            user = social.user
            if not user.is_active:
                raise InvalidCredentials()
            social.last_login_at = timezone.now()
            social.save(update_fields=["last_login_at"])
            return _login_complete(user=user, client=client, device_name=device_name, kind=AuthEvent.Kind.GOOGLE_LOGIN)
    except IntegrityError as exc:  # a concurrent first sign-in with the same identity or email
        raise Conflict("A concurrent sign-in is in progress; try again.") from exc


def _google_identity_link(*, identity: google_identity.GoogleIdentity, client: ClientInfo) -> SocialIdentity:
    if not identity.email:
        raise GoogleEmailMissing()
    if not identity.email_verified:
        raise GoogleEmailUnverified()
    email = normalize_email_address(identity.email)
    user = selectors.user_get_by_email(email=email)
    if user is None:
        user = AppUser.objects.create_user(
            email,
            None,
            first_name=identity.given_name,
            last_name=identity.family_name,
            email_verified=True,
            email_verified_at=timezone.now(),
        )
        auth_event_record(kind=AuthEvent.Kind.REGISTERED, user=user, client=client, details={"provider": "google"})
    elif SocialIdentity.objects.filter(user=user, provider=SocialIdentity.Provider.GOOGLE).exists():
        # Already linked to another Google account: a second `sub` with the same email (a
        # recycled address, say) must not reach it.
        raise GoogleAccountConflict()
    elif not user.email_verified:
        user.set_unusable_password()
        user.email_verified = True
        user.email_verified_at = timezone.now()
        user.save(update_fields=["password", "email_verified", "email_verified_at"])
        token_revoke_all(user=user)
    social = SocialIdentity.objects.create(
        user=user, provider=SocialIdentity.Provider.GOOGLE, subject=identity.subject, email=email
    )
    auth_event_record(kind=AuthEvent.Kind.GOOGLE_LINKED, user=user, client=client, details={"provider": "google"})
    return social


def user_logout(*, user: AppUser, auth_token: AuthToken | None, client: ClientInfo) -> None:
    """Revoke the token the request authenticated with (only that one)."""
    if auth_token is not None:
        AuthToken.objects.filter(pk=auth_token.pk, user=user).delete()
    auth_event_record(kind=AuthEvent.Kind.LOGOUT, user=user, client=client)


def user_logout_all(*, user: AppUser, client: ClientInfo) -> None:
    """Revoke every token of the user (every device) and end every browser session."""
    count = token_revoke_all(user=user)
    AppUser.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    auth_event_record(kind=AuthEvent.Kind.LOGOUT_ALL, user=user, client=client, details={"tokens": count})
