"""Development pages (mounted only with DEBUG on): a start page and the e-mail link pages.

In production the e-mail links point at the single-page app (FRONTEND_URL). In development
there is usually no such app, so FRONTEND_URL defaults to this server and these pages finish
what the links start: verify an address, set a new password, confirm an e-mail change. Each
page posts the link's uid/token to the public API endpoint, exactly as a front end would. A
browser sign-in with a provider ends on the callback page, which exchanges its one-time code.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

# (settings name of the path, page title, API endpoint, whether a new password is asked for)
_LINK_PAGES = {
    "verify": ("AUTH_VERIFY_EMAIL_PATH", "Verify your e-mail address", "/api/v1/auth/verify-email/", False),
    "reset": ("AUTH_PASSWORD_RESET_PATH", "Choose a new password", "/api/v1/auth/password/reset/confirm/", True),
    "email": ("AUTH_EMAIL_CHANGE_PATH", "Confirm your new e-mail address", "/api/v1/auth/email/change/confirm/", False),
}


def start_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/start.html",
        {"site_name": settings.SITE_NAME, "base_url": request.build_absolute_uri("/").rstrip("/")},
    )


def _link_page(kind: str) -> Any:
    _, title, endpoint, asks_password = _LINK_PAGES[kind]

    def view(request: HttpRequest) -> HttpResponse:
        context = {
            "site_name": settings.SITE_NAME,
            "title": title,
            "endpoint": endpoint,
            "asks_password": asks_password,
            "uid": request.GET.get("uid", ""),
            "token": request.GET.get("token", ""),
        }
        return render(request, "core/link.html", context)

    return view


def sign_in_callback_page(request: HttpRequest) -> HttpResponse:
    """Where a browser sign-in with a provider ends: exchanges the one-time code as an app would."""
    context = {
        "site_name": settings.SITE_NAME,
        "code": request.GET.get("code", ""),
        "error": request.GET.get("error", ""),
    }
    return render(request, "core/sign_in_callback.html", context)


def urlpatterns() -> list[Any]:
    patterns = [path("", start_page, name="dev-start")]
    callback = settings.AUTH_SOCIAL_CALLBACK_PATH.strip("/")
    patterns.append(path(callback, sign_in_callback_page, name="dev-sign-in-callback"))
    for kind, (setting, *_rest) in _LINK_PAGES.items():
        patterns.append(path(getattr(settings, setting).strip("/"), _link_page(kind), name=f"dev-link-{kind}"))
    return patterns
