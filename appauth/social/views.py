"""The two browser endpoints of provider sign-in (not API operations: they answer redirects).

`begin/` sends the browser to the provider with a `state` kept in the Django session;
`complete/` is the provider's redirect target: social-auth checks the state, exchanges the
code for the provider's token, runs the pipeline, and we redirect to the single-page app at
FRONTEND_URL + AUTH_SOCIAL_CALLBACK_PATH with `?code=<one-time code>` — or `?error=<code>`
when sign-in failed (the same codes as the API's error shape). Neither ever carries a token.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from social_core.actions import do_auth
from social_core.exceptions import AuthCanceled, SocialAuthBaseException
from social_django.utils import psa

from appauth.errors import SocialEmailUnverified, SocialSignInFailed
from appauth.models import AppUser
from appauth.services.identities import login_code_create
from appauth.social import PROVIDERS
from appauth.social.pipeline import INVITATION_SESSION_KEY
from backend import ratelimit
from backend.errors import ApplicationError
from backend.net import client_ip

logger = logging.getLogger(__name__)

COMPLETE_URL_NAME = "appauth:social-complete"


def _to_app(**params: str) -> HttpResponse:
    response = HttpResponseRedirect(f"{settings.FRONTEND_URL}{settings.AUTH_SOCIAL_CALLBACK_PATH}?{urlencode(params)}")
    response["Referrer-Policy"] = "no-referrer"
    return response


def _throttled(request: HttpRequest) -> bool:
    decision = ratelimit.hit("social_ip", client_ip(request), settings.AUTH_RATE_LIMITS["social_ip"])
    return not decision.allowed


@never_cache
@require_GET
@psa(COMPLETE_URL_NAME)
def social_begin(request: HttpRequest, backend: str) -> HttpResponse:
    if _throttled(request):
        return _to_app(error="rate_limited")
    invitation = request.GET.get("invitation", "")[:200]
    if invitation:
        request.session[INVITATION_SESSION_KEY] = invitation
    else:
        request.session.pop(INVITATION_SESSION_KEY, None)
    return do_auth(request.backend)  # type: ignore[attr-defined]


def _error_code(exc: SocialAuthBaseException) -> str:
    if exc.claim == "email_verified":
        return SocialEmailUnverified.code
    if isinstance(exc, AuthCanceled):
        return "social_sign_in_canceled"
    return SocialSignInFailed.code


@never_cache
@require_GET
@psa(COMPLETE_URL_NAME)
def social_complete(request: HttpRequest, backend: str) -> HttpResponse:
    if _throttled(request):
        return _to_app(error="rate_limited")
    try:
        user = request.backend.complete()  # type: ignore[attr-defined]
    except ApplicationError as exc:
        return _to_app(error=exc.code)
    except SocialAuthBaseException as exc:
        logger.info("provider sign-in refused", extra={"provider": backend, "reason": exc.code})
        return _to_app(error=_error_code(exc))
    except requests.RequestException as exc:
        logger.warning("provider unreachable", extra={"provider": backend, "error": type(exc).__name__})
        return _to_app(error="provider_unavailable")
    finally:
        request.session.pop(INVITATION_SESSION_KEY, None)
    if not isinstance(user, AppUser):
        return _to_app(error=SocialSignInFailed.code)
    return _to_app(code=login_code_create(user=user, provider=PROVIDERS[backend]))
