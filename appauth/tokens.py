"""Stateless HMAC tokens for emailed links (nothing is stored in the database).

Password reset uses Django's `default_token_generator`: its hash covers the password hash
and last login, so a token dies once used or when the password changes by any route.
Email verification uses a subclass with its own salt whose hash covers the email and the
verification state, so a link dies once used or when the email changes.
An email change link is a signed, timestamped payload (user id, new address, and a digest of
the current email and password hash), so it dies when the email or the password changes, or
after `EMAIL_VERIFICATION_TIMEOUT`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core import signing
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from appauth.models import AppUser

password_reset_token_generator = default_token_generator


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "appauth.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user: AppUser, timestamp: int) -> str:
        return f"{user.pk}{user.email}{user.email_verified}{timestamp}"

    def check_token(self, user: AppUser | None, token: str | None) -> bool:
        """As Django's check, but expiring after `EMAIL_VERIFICATION_TIMEOUT` seconds."""
        if not (user and token):
            return False
        try:
            timestamp_b36, _ = token.split("-")
            timestamp = base36_to_int(timestamp_b36)
        except ValueError:
            return False
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token):
                break
        else:
            return False
        return (self._num_seconds(self._now()) - timestamp) <= settings.EMAIL_VERIFICATION_TIMEOUT


email_verification_token_generator = EmailVerificationTokenGenerator()


def uid_encode(user: AppUser) -> str:
    return urlsafe_base64_encode(force_bytes(str(user.pk)))


def uid_decode(uidb64: str) -> str | None:
    """The user id inside a link, or None if it is not decodable."""
    try:
        return force_str(urlsafe_base64_decode(uidb64))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


_EMAIL_CHANGE_SALT = "appauth.email-change"


def _state_digest(user: AppUser) -> str:
    return hashlib.sha256(f"{user.pk}:{user.email}:{user.password}".encode()).hexdigest()[:32]


def email_change_token_make(*, user: AppUser, new_email: str) -> str:
    payload = {"u": str(user.pk), "e": new_email, "s": _state_digest(user)}
    return signing.dumps(payload, salt=_EMAIL_CHANGE_SALT, compress=True)


def email_change_token_read(token: str) -> dict[str, Any] | None:
    """The payload of an untampered, unexpired email change token; None otherwise."""
    try:
        payload = signing.loads(token, salt=_EMAIL_CHANGE_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return payload if isinstance(payload, dict) else None


def email_change_token_matches(*, payload: dict[str, Any], user: AppUser) -> bool:
    """Whether the token was made for `user` as it is now (same email and password)."""
    return payload.get("s") == _state_digest(user)
