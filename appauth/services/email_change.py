"""Changing the login email: re-authenticate, prove the new address, notify the old one.

The current address stays in force until the link mailed to the new address is used. The
link's token is stateless (`appauth.tokens.email_change_token_make`): nothing is stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from appauth import selectors
from appauth.errors import ErrorCode, InvalidLinkToken
from appauth.models import AppUser, AuthEvent, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.notifications import email_enqueue
from appauth.services.users import user_reauthenticate
from appauth.tokens import email_change_token_matches, email_change_token_read
from backend import ratelimit
from backend.errors import Conflict, RateLimited, ValidationFailed


def email_change_request(
    *,
    user: AppUser,
    new_email: str,
    client: ClientInfo,
    password: str | None = None,
    google_id_token: str | None = None,
) -> None:
    """Mail a confirmation link to `new_email` and a notice to the current address.

    If `new_email` already belongs to an account, that owner gets an "already registered"
    mail instead and the answer is the same (no enumeration).
    """
    decision = ratelimit.hit("email_change_user", str(user.pk), settings.AUTH_RATE_LIMITS["email_change_user"])
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
    user_reauthenticate(user=user, password=password, google_id_token=google_id_token)
    new_email = normalize_email_address(new_email)
    if new_email == user.email:
        raise ValidationFailed("new_email: This is already your email address.", details={"new_email": ["unchanged"]})
    event = auth_event_record(
        kind=AuthEvent.Kind.EMAIL_CHANGE_REQUESTED, user=user, client=client, details={"new_email": new_email}
    )
    owner = selectors.user_get_by_email(email=new_email)
    if owner is not None:
        email_enqueue("send_already_registered_email", str(owner.pk))
    else:
        email_enqueue("send_email_change_emails", event.pk)


@transaction.atomic
def email_change_confirm(*, token: str, client: ClientInfo) -> AppUser:
    """Switch the login email to the confirmed new address; raises InvalidLinkToken or Conflict."""
    payload = email_change_token_read(token)
    if payload is None:
        raise InvalidLinkToken()
    user = AppUser.objects.select_for_update().filter(pk=str(payload.get("u", "")), is_active=True).first()
    if user is None or not email_change_token_matches(payload=payload, user=user):
        raise InvalidLinkToken()
    old_email = user.email
    user.email = normalize_email_address(str(payload.get("e", "")))
    user.email_verified = True
    user.email_verified_at = timezone.now()
    try:
        with transaction.atomic():
            user.save(update_fields=["email", "email_verified", "email_verified_at"])
    except IntegrityError as exc:
        raise Conflict("This email address is already in use.", code=ErrorCode.EMAIL_TAKEN) from exc
    event = auth_event_record(
        kind=AuthEvent.Kind.EMAIL_CHANGED, user=user, email=old_email, client=client, details={"new_email": user.email}
    )
    email_enqueue("send_email_changed_notice", event.pk)
    return user
