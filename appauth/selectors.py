"""Reads. Every object is scoped to its owner: another user's id is simply not found."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from appauth.models import AppUser, AuthEvent, AuthToken, Invitation, SocialIdentity, normalize_email_address
from appauth.tokens import uid_decode
from backend.errors import NotFound


def user_get_by_email(*, email: str) -> AppUser | None:
    return AppUser.objects.filter(email=normalize_email_address(email)).first()


def user_get_from_uid(*, uidb64: str) -> AppUser | None:
    """The active user an emailed link's `uid` names, or None (also for garbage)."""
    user_id = uid_decode(uidb64)
    if user_id is None:
        return None
    try:
        pk = uuid.UUID(user_id)
    except ValueError:
        return None
    return AppUser.objects.filter(pk=pk, is_active=True).first()


def token_list(*, user: AppUser) -> QuerySet[AuthToken]:
    """The user's live tokens, most recently created first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def token_get(*, user: AppUser, token_id: uuid.UUID) -> AuthToken:
    """One of the user's tokens; raises NotFound for anyone else's or an unknown id."""
    token = AuthToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    return token


def user_has_logged_in_from(*, user: AppUser, user_agent: str) -> tuple[bool, bool]:
    """(has the user ever logged in, has it logged in with this user agent before)."""
    logins = AuthEvent.objects.filter(user=user, kind__in=[AuthEvent.Kind.LOGIN_SUCCEEDED, AuthEvent.Kind.GOOGLE_LOGIN])
    if not logins.exists():
        return False, False
    return True, logins.filter(user_agent=user_agent).exists()


def identity_list(*, user: AppUser) -> QuerySet[SocialIdentity]:
    return SocialIdentity.objects.filter(user=user).order_by("provider", "created_at")


def invitation_list() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("created_by").order_by("-created_at")


def invitation_get(*, invitation_id: uuid.UUID) -> Invitation:
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation
