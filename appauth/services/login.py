"""Sign-in with email + password, Google or a browser provider's one-time code, and sign-out.

Every sign-in ends in `login_finish`: a token, or — for an account with two-factor sign-in —
a challenge that `user_login_second_factor` completes (see `appauth.services.mfa`).

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
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from appauth import selectors
from appauth.errors import AccountLocked, AccountPendingApproval, InvalidCredentials
from appauth.models import AppUser, AuthEvent, AuthToken, SocialIdentity, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.identities import ProviderIdentity, identity_sign_in, login_code_consume
from appauth.services.mfa import MfaChallenge, mfa_challenge_create, mfa_challenge_verify, mfa_enabled
from appauth.services.notifications import email_enqueue
from appauth.services.tokens import token_create, token_revoke_all
from backend import google_identity
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


def user_login(*, email: str, password: str, client: ClientInfo, device_name: str = "") -> LoginResult | MfaChallenge:
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
        pending = selectors.user_get_by_email(email=email)
        if pending is not None and pending.pending_approval and pending.check_password(password):
            # Only the owner of the password learns that the account awaits approval.
            raise AccountPendingApproval()
        _login_failed(email=email, client=client, lockout=lockout)
    lockout.clear(email, forget_history=True)
    return login_finish(user=user, client=client, device_name=device_name, kind=AuthEvent.Kind.LOGIN_SUCCEEDED)


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


def user_login_google(
    *, id_token: str, client: ClientInfo, device_name: str = "", invitation: str | None = None
) -> LoginResult | MfaChallenge:
    """Sign in (or up) with a Google id_token; see `backend.google_identity` for the checks.

    The account is found or linked by the rules of `appauth.services.identities` (keyed by
    Google's `sub`; linked to an existing account only through an address Google verified;
    new accounts obey the sign-up policy, `invitation` being the code where one is needed).
    Not subject to the password lockout. An account with two-factor sign-in gets a challenge.
    """
    verified = google_identity.verify_id_token(id_token)
    identity = ProviderIdentity(
        provider=SocialIdentity.Provider.GOOGLE,
        subject=verified.subject,
        email=verified.email,
        email_verified=verified.email_verified,
        given_name=verified.given_name,
        family_name=verified.family_name,
    )
    user = identity_sign_in(identity=identity, client=client, invitation_code=invitation)
    return login_finish(user=user, client=client, device_name=device_name, kind=AuthEvent.Kind.GOOGLE_LOGIN)


def login_finish(*, user: AppUser, client: ClientInfo, device_name: str, kind: str) -> LoginResult | MfaChallenge:
    """The last step of every sign-in: a token, or a challenge when two-factor sign-in is on."""
    if mfa_enabled(user=user):
        return mfa_challenge_create(user=user, device_name=device_name, kind=kind, client=client)
    with transaction.atomic():
        return _login_complete(user=user, client=client, device_name=device_name, kind=AuthEvent.Kind(kind))


def user_login_second_factor(
    *, challenge: str, client: ClientInfo, code: str | None = None, recovery_code: str | None = None
) -> LoginResult:
    """Finish a sign-in with its challenge and a TOTP or recovery code (see `mfa_challenge_verify`)."""
    user, device_name, kind = mfa_challenge_verify(
        challenge=challenge, code=code, recovery_code=recovery_code, client=client
    )
    event_kind = AuthEvent.Kind(kind) if kind in AuthEvent.Kind.values else AuthEvent.Kind.LOGIN_SUCCEEDED
    with transaction.atomic():
        return _login_complete(user=user, client=client, device_name=device_name, kind=event_kind)


def user_login_code_exchange(*, code: str, client: ClientInfo, device_name: str = "") -> LoginResult | MfaChallenge:
    """Exchange the one-time code of the browser sign-in flow (single use, short-lived)."""
    user, provider = login_code_consume(code=code)
    kind = AuthEvent.Kind.GOOGLE_LOGIN if provider == SocialIdentity.Provider.GOOGLE else AuthEvent.Kind.SOCIAL_LOGIN
    return login_finish(user=user, client=client, device_name=device_name, kind=kind)


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
