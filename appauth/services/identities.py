"""External identities (Google, GitHub, Microsoft): the one set of account-linking rules.

Both ways in use them: the browser flow through social-auth's pipeline
(`appauth.social.pipeline`) and the mobile Google id_token (`user_login_google`).

- Accounts are keyed on (provider, the provider's user id); the e-mail is never the key.
- A first sign-in links to the existing account with the same address only when the provider
  verified it; an unverified address neither links nor creates an account.
- A new account obeys the sign-up policy (`appauth.services.signup`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from appauth import selectors
from appauth.errors import (
    AccountPendingApproval,
    GoogleAccountConflict,
    GoogleEmailMissing,
    GoogleEmailUnverified,
    InvalidCredentials,
    InvalidLoginCode,
    LastSignInMethod,
    SocialAccountConflict,
    SocialEmailMissing,
    SocialEmailUnverified,
)
from appauth.models import AppUser, AuthEvent, LoginCode, SocialIdentity, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.signup import invitation_accept, signup_account_fields, signup_check
from appauth.services.tokens import token_revoke_all
from backend.errors import ApplicationError, Conflict, NotFound

Provider = SocialIdentity.Provider


@dataclass(frozen=True)
class ProviderIdentity:
    """Who a provider says signed in."""

    provider: str  # a SocialIdentity.Provider value
    subject: str  # the provider's stable user id
    email: str
    email_verified: bool
    given_name: str = ""
    family_name: str = ""


def _error(provider: str, kind: str) -> ApplicationError:
    # The Google errors keep their established codes; other providers share the generic ones.
    google = {"missing": GoogleEmailMissing, "unverified": GoogleEmailUnverified, "conflict": GoogleAccountConflict}
    generic = {"missing": SocialEmailMissing, "unverified": SocialEmailUnverified, "conflict": SocialAccountConflict}
    return (google if provider == Provider.GOOGLE else generic)[kind]()


def identity_sign_in(*, identity: ProviderIdentity, client: ClientInfo, invitation_code: str | None = None) -> AppUser:
    """The account `identity` signs in to, linking or creating it by the rules above.

    Raises the email errors, SocialAccountConflict (the address's account is linked to another
    identity of this provider), the sign-up policy errors, AccountPendingApproval (created or
    found awaiting approval: committed, so staff see it), InvalidCredentials (inactive account)
    or Conflict (a concurrent first sign-in).
    """
    try:
        with transaction.atomic():
            social = (
                SocialIdentity.objects.select_related("user")
                .filter(provider=identity.provider, subject=identity.subject)
                .first()
            )
            if social is None:
                social = _identity_link(identity=identity, client=client, invitation_code=invitation_code)
    except IntegrityError as exc:  # a concurrent first sign-in with the same identity or email
        raise Conflict("A concurrent sign-in is in progress; try again.") from exc
    user = social.user
    if not user.is_active:
        if user.pending_approval:
            raise AccountPendingApproval()
        raise InvalidCredentials()
    SocialIdentity.objects.filter(pk=social.pk).update(last_login_at=timezone.now())
    return user


def _identity_link(*, identity: ProviderIdentity, client: ClientInfo, invitation_code: str | None) -> SocialIdentity:
    if not identity.email:
        raise _error(identity.provider, "missing")
    if not identity.email_verified:
        raise _error(identity.provider, "unverified")
    email = normalize_email_address(identity.email)
    user = selectors.user_get_by_email(email=email)
    if user is None:
        invitation = signup_check(email=email, invitation_code=invitation_code)
        user = AppUser.objects.create_user(
            email,
            None,
            first_name=identity.given_name[:150],
            last_name=identity.family_name[:150],
            email_verified=True,
            email_verified_at=timezone.now(),
            **signup_account_fields(),
        )
        invitation_accept(invitation=invitation, user=user)
        auth_event_record(
            kind=AuthEvent.Kind.REGISTERED, user=user, client=client, details={"provider": identity.provider}
        )
    elif SocialIdentity.objects.filter(user=user, provider=identity.provider).exists():
        # Already linked to another identity of this provider: a second id with the same
        # address (a recycled address, say) must not reach it.
        raise _error(identity.provider, "conflict")
    elif not user.email_verified:
        # The local account never proved the address; the provider did. Whoever registered it
        # without owning the mailbox loses access.
        user.set_unusable_password()
        user.email_verified = True
        user.email_verified_at = timezone.now()
        user.save(update_fields=["password", "email_verified", "email_verified_at"])
        token_revoke_all(user=user)
    social = SocialIdentity.objects.create(user=user, provider=identity.provider, subject=identity.subject, email=email)
    kind = AuthEvent.Kind.GOOGLE_LINKED if identity.provider == Provider.GOOGLE else AuthEvent.Kind.SOCIAL_LINKED
    auth_event_record(kind=kind, user=user, client=client, details={"provider": identity.provider})
    return social


@transaction.atomic
def identity_unlink(*, user: AppUser, identity_id: int, client: ClientInfo) -> None:
    """Disconnect one of the user's identities; NotFound for anyone else's.

    Raises LastSignInMethod when it is the account's only way to sign in (no usable
    password and no other identity).
    """
    # Lock the user's identities so two parallel unlinks cannot both pass the check.
    identities = list(SocialIdentity.objects.select_for_update().filter(user=user))
    identity = next((item for item in identities if item.pk == identity_id), None)
    if identity is None:
        raise NotFound("Identity not found.")
    if len(identities) == 1 and not user.has_usable_password():
        raise LastSignInMethod()
    identity.delete()
    auth_event_record(
        kind=AuthEvent.Kind.SOCIAL_UNLINKED, user=user, client=client, details={"provider": identity.provider}
    )


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def login_code_create(*, user: AppUser, provider: str) -> str:
    """A one-time code for the single-page app to exchange for a token (see `login_code_consume`)."""
    LoginCode.objects.filter(expires_at__lte=timezone.now()).delete()
    code = secrets.token_urlsafe(32)
    LoginCode.objects.create(
        digest=_code_digest(code),
        user=user,
        provider=provider,
        expires_at=timezone.now() + timedelta(seconds=settings.AUTH_SOCIAL_LOGIN_CODE_SECONDS),
    )
    return code


def login_code_consume(*, code: str) -> tuple[AppUser, str]:
    """The (active) user and provider of a code, which is deleted: good once. Raises InvalidLoginCode."""
    row = LoginCode.objects.select_related("user").filter(digest=_code_digest(code)).first()
    if row is None:
        raise InvalidLoginCode()
    deleted, _ = LoginCode.objects.filter(pk=row.pk).delete()
    if not deleted or row.expires_at <= timezone.now() or not row.user.is_active:
        raise InvalidLoginCode()
    return row.user, row.provider
