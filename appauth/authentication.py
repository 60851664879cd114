"""Knox token authentication that also records when each token was last used.

Knox already stores only a SHA-512 digest, compares in constant time, deletes expired
tokens when presented and refreshes expiry (capped by `AUTO_REFRESH_MAX_TTL`). This
subclass adds `last_used_at` (written at most once per `AUTH_TOKEN_TOUCH_INTERVAL_SECONDS`),
turns undecodable headers into a 401 instead of a 500, and does not load all of the user's
tokens on every request (one indexed lookup authenticates).

Most requests do not reach the database at all: a verified (user, token) pair is kept for
`AUTH_TOKEN_CACHE_SECONDS` in the cache (`appauth.token_cache`), and any revocation marks it at
once. The database path runs on a miss, and whenever the cached row is due for its sliding
expiry refresh or its `last_used_at` touch, so both stay as exact as without the cache.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.settings import knox_settings
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header

from appauth import token_cache
from appauth.models import AppUser, AuthToken
from backend.db import SqlGuard

_MAX_TOKEN_LENGTH = 256


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        cached = token_cache.lookup(hash_token(token.decode("utf-8"))) if token_cache.lifetime() else None
        if cached is not None and self._current(*cached):
            return cached
        user, auth_token = super().authenticate_credentials(token)
        now = timezone.now()
        if self._touch_due(auth_token, now):
            AuthToken.objects.filter(pk=auth_token.pk).update(last_used_at=now)
            auth_token.last_used_at = now
        token_cache.store(user, auth_token)
        return user, auth_token

    def memoized(self, token: bytes) -> tuple[AppUser, SqlGuard] | None:
        """The user of `token` if this process verified it lately and it may answer as is, else None.

        Trust the user only in a statement that checks the returned guard (`token_cache.memo_get`).
        """
        if not token_cache.lifetime() or len(token) > _MAX_TOKEN_LENGTH:
            return None
        try:
            digest = hash_token(token.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        pair = token_cache.memo_get(digest)
        if pair is None or not self._current(*pair):
            return None
        return pair[0], token_cache.guard(pair[1])

    def memoized_request(self, request: HttpRequest) -> tuple[AppUser, SqlGuard] | None:
        """`memoized` for the request's `Authorization` header, parsed as Knox parses it."""
        token = self._header_token(request)
        return self.memoized(token) if token else None

    def forget_request(self, request: HttpRequest) -> None:
        """`forget` the token of the request's `Authorization` header."""
        token = self._header_token(request)
        if token:
            self.forget(token)

    def _header_token(self, request: HttpRequest) -> bytes:
        """The credentials of `Authorization: Token <token>` as Knox splits them; b"" when malformed.

        Repeated headers are joined by Django, which Knox then refuses: b"" too.
        """
        parts = get_authorization_header(request).split()  # type: ignore[arg-type] # reads META, as Django's has
        prefix = self.authenticate_header(request).encode()
        return parts[1] if len(parts) == 2 and parts[0].lower() == prefix.lower() else b""

    @staticmethod
    def remember(user: AppUser, auth_token: AuthToken) -> None:
        """Keep a pair that just authenticated a request for `memoized` (this process only)."""
        token_cache.memo_put(user, auth_token)

    @staticmethod
    def forget(token: bytes) -> None:
        """Drop the memo of `token` (its guard failed: the next request takes the whole path)."""
        with contextlib.suppress(UnicodeDecodeError):
            token_cache.memo_drop(hash_token(token.decode("utf-8")))

    @staticmethod
    def _touch_due(auth_token: AuthToken, now: Any) -> bool:
        interval = timedelta(seconds=settings.AUTH_TOKEN_TOUCH_INTERVAL_SECONDS)
        return auth_token.last_used_at is None or now - auth_token.last_used_at >= interval

    def _current(self, user: AppUser, auth_token: AuthToken) -> bool:
        """Whether a cached pair may answer as is: unexpired, active, no refresh or touch due."""
        now = timezone.now()
        if not user.is_active or self._touch_due(auth_token, now):
            return False
        if auth_token.expiry is None:
            return True
        if auth_token.expiry < now:
            return False  # the database path deletes it and refuses
        if knox_settings.AUTO_REFRESH:
            renewed = now + knox_settings.TOKEN_TTL
            if knox_settings.AUTO_REFRESH_MAX_TTL is not None:
                renewed = min(renewed, auth_token.created + knox_settings.AUTO_REFRESH_MAX_TTL)
            if (renewed - auth_token.expiry).total_seconds() > knox_settings.MIN_REFRESH_INTERVAL:
                return False  # knox would write the new expiry: let the database path do it
        return True

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        """True (and the token deleted) when the presented token has expired.

        Knox also deletes every other expired token of the user here, which loads all of the
        user's tokens on every request; those are purged when the user signs in instead
        (`appauth.services.tokens.token_create`), and an expired token never authenticates.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the header in the OpenAPI schema: `Authorization: Token <token>`."""

    target_class = "appauth.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "The word `Token`, a space, then the token from `POST /api/v1/auth/login/`: "
                "`Token aia_0123abcd…` (type all of it in Authorize)."
            ),
        }
