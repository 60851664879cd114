"""Sign-up policy (open, invite, domains, approval), invitations and approval by staff.

The policy (`AUTH_SIGNUP_POLICY`) applies wherever an account is created: password
registration, browser sign-in with a provider and the mobile Google sign-in. It is checked
before anything reveals whether the address already has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from appauth.errors import InvitationExpired, InvitationInvalid, SignupDomainNotAllowed
from appauth.models import AppUser, AuthEvent, Invitation, normalize_email_address
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.notifications import email_enqueue
from backend.errors import ValidationFailed

POLICIES = ("open", "invite", "domains", "approval")


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def signup_policy() -> str:
    policy = str(settings.AUTH_SIGNUP_POLICY).lower()
    if policy not in POLICIES:
        raise ValueError(f"AUTH_SIGNUP_POLICY must be one of {', '.join(POLICIES)}")
    return policy


def signup_check(*, email: str, invitation_code: str | None) -> Invitation | None:
    """Raise unless the policy lets `email` sign up; returns the invitation it will use (if any).

    Raises InvitationInvalid, InvitationExpired or SignupDomainNotAllowed.
    """
    policy = signup_policy()
    email = normalize_email_address(email)
    if policy == "domains":
        domain = email.rpartition("@")[2]
        if domain not in settings.AUTH_SIGNUP_ALLOWED_DOMAINS:
            raise SignupDomainNotAllowed()
        return None
    if policy != "invite":
        return None
    if not invitation_code:
        raise InvitationInvalid()
    invitation = Invitation.objects.filter(digest=_digest(invitation_code)).first()
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvitationInvalid()
    if invitation.email and normalize_email_address(invitation.email) != email:
        raise InvitationInvalid()
    if invitation.expires_at <= timezone.now():
        raise InvitationExpired()
    return invitation


def signup_account_fields() -> dict[str, Any]:
    """Extra fields of a new account: under "approval" it starts inactive, awaiting staff."""
    if signup_policy() == "approval":
        return {"is_active": False, "pending_approval": True}
    return {}


def invitation_accept(*, invitation: Invitation | None, user: AppUser) -> None:
    """Mark the invitation used by `user` (single use: a concurrent second use fails)."""
    if invitation is None:
        return
    used = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if not used:
        raise InvitationInvalid()


def invitation_link(code: str) -> str:
    return f"{settings.FRONTEND_URL}{settings.AUTH_INVITATION_PATH}?{urlencode({'invitation': code})}"


def invitation_issue(*, invitation: Invitation, created_by: AppUser | None, client: ClientInfo | None = None) -> str:
    """Save a new invitation (filled in by the admin form or `invitation_create`); returns its code.

    The code is shown once: only its digest is stored.
    """
    code = secrets.token_urlsafe(24)
    invitation.digest = _digest(code)
    invitation.email = normalize_email_address(invitation.email) if invitation.email else ""
    invitation.created_by = created_by
    invitation.save()
    auth_event_record(
        kind=AuthEvent.Kind.INVITATION_CREATED,
        user=created_by,
        client=client,
        details={"invitation_id": str(invitation.pk)},
    )
    return code


def invitation_create(
    *,
    created_by: AppUser | None,
    email: str = "",
    note: str = "",
    expires_in_days: int | None = None,
    client: ClientInfo | None = None,
) -> tuple[Invitation, str]:
    """Create an invitation valid for `expires_in_days` (default AUTH_INVITATION_DAYS); returns it and its code."""
    days = settings.AUTH_INVITATION_DAYS if expires_in_days is None else expires_in_days
    if days < 1 or days > 365:
        raise ValidationFailed("expires_in_days must be between 1 and 365.", details={"expires_in_days": [str(days)]})
    invitation = Invitation(email=email, note=note, expires_at=timezone.now() + timedelta(days=days))
    code = invitation_issue(invitation=invitation, created_by=created_by, client=client)
    return invitation, code


def invitation_revoke(*, invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def user_approve(*, user: AppUser, approved_by: AppUser | None = None) -> None:
    """Activate an account awaiting approval and mail it the verification link if needed."""
    if not user.pending_approval:
        return
    user.pending_approval = False
    user.is_active = True
    user.save(update_fields=["pending_approval", "is_active"])
    auth_event_record(
        kind=AuthEvent.Kind.ACCOUNT_APPROVED,
        user=user,
        client=None,
        details={"approved_by": str(approved_by.pk) if approved_by else ""},
    )
    if not user.email_verified:
        email_enqueue("send_verification_email", str(user.pk))
