"""Google sign-in: verify an OpenID Connect id_token and return who it identifies.

Web (Google Identity Services), Android (Credential Manager) and iOS clients all obtain an
id_token signed by Google. We accept it only if:

- its RS256 signature verifies against Google's published keys (`settings.GOOGLE_JWKS_URL`,
  fetched with PyJWT's `PyJWKClient` and cached for `GOOGLE_JWKS_CACHE_SECONDS`);
- `iss` is `accounts.google.com` or `https://accounts.google.com`;
- `aud` is one of *our* client ids (`settings.GOOGLE_CLIENT_IDS`: web, Android and iOS ids
  differ), so a token Google issued to another app is refused;
- it has not expired (`exp`, with `GOOGLE_CLOCK_SKEW_SECONDS` of leeway) and carries `sub`.

Access tokens are never accepted: they say nothing about their audience.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings

from backend.errors import ApplicationError, ErrorCode, ServiceUnavailable

logger = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
_MAX_TOKEN_LENGTH = 8192

_clients: dict[str, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


class InvalidGoogleToken(ApplicationError):
    code = ErrorCode.INVALID_GOOGLE_TOKEN
    status_code = 400
    default_message = "The Google sign-in token is invalid or expired."


class GoogleUnavailable(ServiceUnavailable):
    code = ErrorCode.GOOGLE_UNAVAILABLE
    default_message = "Google sign-in is temporarily unavailable. Try again later."


@dataclass(frozen=True)
class GoogleIdentity:
    subject: str
    email: str
    email_verified: bool
    given_name: str
    family_name: str
    audience: str


def _jwks_client() -> jwt.PyJWKClient:
    url: str = settings.GOOGLE_JWKS_URL
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = jwt.PyJWKClient(
                url,
                cache_jwk_set=True,
                lifespan=float(getattr(settings, "GOOGLE_JWKS_CACHE_SECONDS", 3600)),
                timeout=float(getattr(settings, "GOOGLE_JWKS_TIMEOUT_SECONDS", 5)),
            )
            _clients[url] = client
        return client


def reset_clients() -> None:
    """Forget cached key sets (tests switch `GOOGLE_JWKS_URL`)."""
    with _clients_lock:
        _clients.clear()


def verify_id_token(id_token: str) -> GoogleIdentity:
    """Verify a Google id_token; raises `InvalidGoogleToken` (400) or `GoogleUnavailable` (503)."""
    client_ids = [client_id for client_id in settings.GOOGLE_CLIENT_IDS if client_id]
    if not client_ids:
        raise InvalidGoogleToken("Google sign-in is not configured.", code=ErrorCode.GOOGLE_NOT_CONFIGURED)
    if not id_token or len(id_token) > _MAX_TOKEN_LENGTH:
        raise InvalidGoogleToken()
    try:
        signing_key = _jwks_client().get_signing_key_from_jwt(id_token)
        claims: dict[str, Any] = jwt.decode(
            id_token,
            signing_key.key,
            algorithms=["RS256"],
            audience=client_ids,
            issuer=GOOGLE_ISSUERS,
            leeway=int(getattr(settings, "GOOGLE_CLOCK_SKEW_SECONDS", 30)),
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWKClientConnectionError as exc:
        logger.warning("Google key set unreachable: %s", type(exc).__name__)
        raise GoogleUnavailable() from exc
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
        logger.info("Google id_token refused: %s", type(exc).__name__)
        raise InvalidGoogleToken() from exc
    except (ValueError, TypeError) as exc:  # garbage that PyJWT fails on before its own checks
        raise InvalidGoogleToken() from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidGoogleToken()
    email = claims.get("email")
    verified = claims.get("email_verified")
    return GoogleIdentity(
        subject=subject,
        email=email if isinstance(email, str) else "",
        email_verified=verified is True or verified == "true",
        given_name=str(claims.get("given_name") or "")[:150],
        family_name=str(claims.get("family_name") or "")[:150],
        audience=str(claims["aud"]),
    )
