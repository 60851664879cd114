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


@pytest.mark.django_db(transaction=True)
def test_message_storage_is_built_only_by_a_request_that_uses_it(monkeypatch, admin_client):
    from django.contrib.auth.models import Group

    from backend import middleware as module

    built: list[str] = []
    original = module.default_storage

    def counting(request):
        built.append(request.path)
        return original(request)

    monkeypatch.setattr(module, "default_storage", counting)
    assert asyncio.run(AsyncClient().get("/healthz")).status_code == 200
    assert built == []  # an API request never builds it

    # The admin adds "was added successfully" after a save and shows it on the next page.
    response = admin_client.post("/admin/auth/group/add/", {"name": "Editors"}, follow=True)

    assert Group.objects.filter(name="Editors").exists()
    assert "was added successfully" in response.content.decode()
    assert "/admin/auth/group/add/" in built
