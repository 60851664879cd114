"""Knox token authentication that also records when each token was last used.

Knox already stores only a SHA-512 digest, compares in constant time, deletes expired
tokens when presented and refreshes expiry (capped by `AUTO_REFRESH_MAX_TTL`). This
subclass adds `last_used_at` (written at most once per `AUTH_TOKEN_TOUCH_INTERVAL_SECONDS`),
turns undecodable headers into a 401 instead of a 500, and does not load all of the user's
tokens on every request (one indexed lookup authenticates).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions

from appauth.models import AuthToken

_MAX_TOKEN_LENGTH = 256


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        user, auth_token = super().authenticate_credentials(token)
        now = timezone.now()
        interval = timedelta(seconds=settings.AUTH_TOKEN_TOUCH_INTERVAL_SECONDS)
        if auth_token.last_used_at is None or now - auth_token.last_used_at >= interval:
            AuthToken.objects.filter(pk=auth_token.pk).update(last_used_at=now)
            auth_token.last_used_at = now
        return user, auth_token

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
