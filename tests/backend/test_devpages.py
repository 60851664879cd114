"""Development (DEBUG) pages: a start page at /, and the e-mail links working without a front end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import clear_url_caches, set_urlconf

from tests.factories import UserFactory
from tests.helpers import assert_error

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev_urls():
    """The URLconf as DEBUG builds it (the test run itself has DEBUG off)."""
    import importlib

    import aiassistant.urls

    with override_settings(DEBUG=True):
        importlib.reload(aiassistant.urls)
        clear_url_caches()
        yield
    importlib.reload(aiassistant.urls)
    clear_url_caches()
    set_urlconf(None)


def test_the_start_page_links_the_docs_the_admin_and_the_quickstart(dev_urls):
    response = Client().get("/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'href="/api/docs/"' in body and 'href="/admin/"' in body
    assert "curl -N" in body and "Quickstart" in body


@pytest.mark.django_db
def test_the_verification_link_opens_a_page_that_posts_uid_and_token_to_the_api(dev_urls):
    response = Client().get("/verify-email", {"uid": "MQ", "token": "abc-123"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/auth/verify-email/" in body
    assert '<script id="link-uid" type="application/json">"MQ"</script>' in body
    assert '<script id="link-token" type="application/json">"abc-123"</script>' in body


@pytest.mark.django_db
def test_the_reset_link_page_asks_for_the_new_password(dev_urls):
    body = Client().get("/reset-password", {"uid": "MQ", "token": "t"}).content.decode()

    assert 'name="new_password"' in body and "/api/v1/auth/password/reset/confirm/" in body


def test_production_has_no_start_page():
    assert Client().get("/").status_code == 404


def test_with_debug_on_e_mail_links_point_at_this_server_unless_a_front_end_is_set():
    code = "from django.conf import settings; print(settings.FRONTEND_URL)"
    env = {k: v for k, v in os.environ.items() if k not in ("FRONTEND_URL", "PORT")}

    def frontend(**extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=REPO,
            env={**env, "DJANGO_SETTINGS_MODULE": "aiassistant.settings", **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    assert frontend(DEBUG="1", PORT="8123") == "http://127.0.0.1:8123"
    assert frontend(DEBUG="1", FRONTEND_URL="http://localhost:5173/") == "http://localhost:5173"
    assert frontend(DEBUG="0") == "http://localhost:3000"


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_path_answers_the_error_shape_in_development_too(debug):
    with override_settings(DEBUG=debug):
        unknown = Client().get("/api/v1/nothing-here/", HTTP_ACCEPT="application/json")
        posted = Client().post("/api/v1/nothing-here/", data=json.dumps({}), content_type="application/json")
        slashless = Client().get("/api/v1/models")

    assert_error(unknown, 404, "not_found")
    assert set(unknown.json()["error"]) == {"code", "message", "details"}
    assert_error(posted, 404, "not_found")
    assert slashless.status_code == 404 and "/api/v1/models/" in slashless.json()["error"]["message"]


@pytest.mark.django_db
def test_an_unknown_admin_assistant_api_path_answers_the_error_shape():
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)

    for path in ("/ai-assistant/api/chats/not-a-uuid", "/ai-assistant/api/results/x/csv", "/ai-assistant/api/nope"):
        response = client.get(path)
        assert_error(response, 404, "not_found")


def test_the_provider_sign_in_callback_page_exchanges_the_code_at_the_api(dev_urls):
    response = Client().get("/auth/callback", {"code": "one-time-code"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/auth/social/exchange/" in body
    assert '"one-time-code"' in body  # handed to the script as JSON, not pasted into it


def test_the_callback_page_shows_a_sign_in_error(dev_urls):
    body = Client().get("/auth/callback", {"error": "social_email_unverified"}).content.decode()

    assert "social_email_unverified" in body
