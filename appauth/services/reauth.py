"""Re-authentication before sensitive actions (deletion, e-mail change, two-factor settings)."""

from __future__ import annotations

from appauth.errors import InvalidPassword, ReauthenticationRequired
from appauth.models import AppUser, SocialIdentity
from backend import google_identity


def user_reauthenticate(*, user: AppUser, password: str | None, google_id_token: str | None) -> None:
    """Confirm a sensitive action: the password, or (Google-only accounts) a fresh id_token of a linked identity.

    Raises ReauthenticationRequired, InvalidPassword, or the Google adapter's errors.
    """
    if user.has_usable_password():
        if not password:
            raise ReauthenticationRequired()
        if not user.check_password(password):
            raise InvalidPassword()
        return
    if not google_id_token:
        raise ReauthenticationRequired()
    identity = google_identity.verify_id_token(google_id_token)
    linked = SocialIdentity.objects.filter(
        user=user, provider=SocialIdentity.Provider.GOOGLE, subject=identity.subject
    ).exists()
    if not linked:
        raise ReauthenticationRequired()
