"""Under ASGI the stock middleware runs without thread hops, and behaves as before."""

import asyncio
import threading

import pytest
from django.test import AsyncClient

from backend import middleware


def test_every_configured_django_middleware_is_the_hop_free_variant(settings):
    stock = {
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }

    assert not stock & set(settings.MIDDLEWARE)


def test_hooks_run_on_the_event_loop_thread(monkeypatch):
    seen: list[str] = []
    original = middleware.SecurityMiddleware.process_request

    def spy(self, request):
        seen.append(threading.current_thread().name)
        return original(self, request)

    monkeypatch.setattr(middleware.SecurityMiddleware, "process_request", spy)

    async def call() -> int:
        response = await AsyncClient().get("/healthz")
        return response.status_code

    loop_thread = threading.current_thread().name
    assert asyncio.run(call()) == 200
    assert seen == [loop_thread]


@pytest.mark.django_db(transaction=True)
def test_security_and_frame_headers_are_still_set():
    response = asyncio.run(AsyncClient().get("/api/v1/no-such-thing/"))

    assert response.status_code == 404
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
