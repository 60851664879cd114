"""Fixtures for the accounts tests: API clients, users, a local Google key server, fast hashing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from rest_framework.test import APIClient

from appauth import services
from appauth.models import AppUser
from backend import ratelimit
from tests.appauth.factories import CLIENT
from tests.appauth.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuthProvider, Profile


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest, settings: Any) -> None:
    """Argon2 is the production hasher (see test_settings); most tests use a fast one."""
    if "production_hashers" not in request.fixturenames:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def rate_clock() -> Iterator[list[float]]:
    """Rate-limit windows do not roll over mid-test: the limiter's clock stands still unless moved."""
    now = [1_800_000_030.0]  # 30 s into a minute and into an hour
    with mock.patch.object(ratelimit, "now", side_effect=lambda: now[0]):
        yield now


@pytest.fixture(autouse=True)
def _google_is_never_reached(settings: Any) -> None:
    """Whatever the environment says, no test talks to Google (the `google` fixture serves local keys)."""
    settings.GOOGLE_CLIENT_IDS = []
    settings.GOOGLE_JWKS_URL = "http://127.0.0.1:9/google-is-never-reached"


@pytest.fixture
def production_hashers() -> None:
    """Request this to keep the configured (Argon2-first) password hashers."""


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest-agent/1.0")


@pytest.fixture
def login_token() -> Callable[..., str]:
    """Issue a real token for a user, as a login would."""

    def issue(user: AppUser, *, device_name: str = "", client: services.ClientInfo = CLIENT) -> str:
        _, token = services.token_create(user=user, client=client, device_name=device_name)
        return token

    return issue


@pytest.fixture
def auth_client(user: AppUser, login_token: Callable[..., str]) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest-agent/1.0")
    client.credentials(HTTP_AUTHORIZATION=f"Token {login_token(user)}")
    return client


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """`with run_on_commit(): ...` runs the after-commit callbacks (Celery is eager) on exit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[FakeOAuthProvider]:
    server = FakeOAuthProvider()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def oauth_provider(oauth_server: FakeOAuthProvider, settings: Any) -> FakeOAuthProvider:
    """Browser sign-in with Google, GitHub and Microsoft configured against the local fake provider."""
    settings.TEST_OAUTH_PROVIDER_URL = oauth_server.url
    settings.SOCIAL_AUTH_AUTHENTICATION_BACKENDS = [
        "tests.appauth.fake_oauth.FakeGoogleOAuth2",
        "tests.appauth.fake_oauth.FakeGithubOAuth2",
        "tests.appauth.fake_oauth.FakeMicrosoftOAuth2",
    ]
    for provider in ("GOOGLE_OAUTH2", "GITHUB", "MICROSOFT_GRAPH"):
        setattr(settings, f"SOCIAL_AUTH_{provider}_KEY", CLIENT_ID)
        setattr(settings, f"SOCIAL_AUTH_{provider}_SECRET", CLIENT_SECRET)
    settings.FRONTEND_URL = "https://app.example.com"
    settings.AUTH_SOCIAL_CALLBACK_PATH = "/auth/callback"
    oauth_server.profile = Profile()
    return oauth_server
