"""Browser sign-in with providers, end to end over HTTP against the local fake OAuth provider.

The Django test client plays the browser (it keeps the session cookie that holds the OAuth
state); the provider is a real HTTP server on loopback that social-auth talks to for the token
and the user data. Each flow ends where the single-page app would take over: the one-time
code on the callback URL, exchanged for a token that then works on the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from appauth.models import AppUser, AuthToken, LoginCode, SocialIdentity
from appauth.services.mfa import totp_confirm, totp_enrol
from tests.appauth.factories import CLIENT, SocialIdentityFactory
from tests.appauth.fake_oauth import Profile
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CALLBACK = "https://app.example.com/auth/callback"


def browser_sign_in(provider: Any, backend: str = "google-oauth2", browser: Client | None = None, **query: str) -> dict:
    """Run the redirect flow as a browser would; returns the callback URL's query parameters."""
    browser = browser or Client(REMOTE_ADDR="203.0.113.7")
    begin = browser.get(f"/api/v1/auth/social/{backend}/begin/", query)
    assert begin.status_code == 302, begin.content
    authorize_url = begin["Location"]
    assert authorize_url.startswith(provider.url + "/authorize")
    # The provider's consent step answers with a redirect back to our complete endpoint.
    at_provider = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == f"/api/v1/auth/social/{backend}/complete/"
    complete = browser.get(back.path, parse_qs(back.query))
    assert complete.status_code == 302
    target = urlsplit(complete["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CALLBACK
    assert complete["Referrer-Policy"] == "no-referrer"
    return {key: values[0] for key, values in parse_qs(target.query).items()}


def exchange(code: str, **extra: Any):
    return APIClient(REMOTE_ADDR="203.0.113.7").post(
        "/api/v1/auth/social/exchange/", {"code": code, **extra}, format="json"
    )


def test_google_sign_up_ends_in_a_one_time_code_that_the_app_exchanges_for_a_token(oauth_provider):
    oauth_provider.profile = Profile(subject="g-100", email="New.Person@Example.com")

    result = browser_sign_in(oauth_provider)

    assert set(result) == {"code"}  # never a token in a URL
    response = exchange(result["code"], device_name="laptop")
    assert response.status_code == 200, response.json()
    token = response.json()["token"]
    user = AppUser.objects.get(email="new.person@example.com")
    assert user.email_verified and not user.has_usable_password()
    assert SocialIdentity.objects.get(user=user).subject == "g-100"
    assert AuthToken.objects.get(user=user).device_name == "laptop"
    profile = APIClient().get("/api/v1/auth/profile/", HTTP_AUTHORIZATION=f"Token {token}")
    assert profile.status_code == 200 and profile.json()["email"] == "new.person@example.com"
    assert not LoginCode.objects.exists()  # only a digest was ever stored, and it is spent


def test_the_code_is_good_once(oauth_provider):
    code = browser_sign_in(oauth_provider)["code"]
    assert exchange(code).status_code == 200

    again = exchange(code)

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_login_code"


def test_an_expired_code_is_refused(oauth_provider):
    code = browser_sign_in(oauth_provider)["code"]
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = exchange(code)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_login_code"


def test_a_verified_email_links_the_existing_account_and_later_sign_ins_use_the_provider_id(oauth_provider):
    existing = UserFactory(email="ada@example.com")
    oauth_provider.profile = Profile(subject="g-7", email="ada@example.com")

    first = exchange(browser_sign_in(oauth_provider)["code"])
    oauth_provider.profile = Profile(subject="g-7", email="renamed@example.com")
    second = exchange(browser_sign_in(oauth_provider)["code"])

    assert first.json()["user"]["id"] == second.json()["user"]["id"] == str(existing.pk)
    assert SocialIdentity.objects.get(user=existing).subject == "g-7"
    existing.refresh_from_db()
    assert existing.check_password(DEFAULT_PASSWORD)  # a verified local account keeps its password


def test_an_unverified_email_neither_links_nor_creates_an_account(oauth_provider):
    existing = UserFactory(email="victim@example.com")
    oauth_provider.profile = Profile(subject="attacker", email="victim@example.com", email_verified=False)

    result = browser_sign_in(oauth_provider)

    assert result == {"error": "social_email_unverified"}
    assert not SocialIdentity.objects.exists()
    assert AppUser.objects.count() == 1
    existing.refresh_from_db()
    assert existing.check_password(DEFAULT_PASSWORD)
    assert not AuthToken.objects.exists()


def test_a_second_identity_of_the_same_provider_cannot_take_an_account(oauth_provider):
    linked = SocialIdentityFactory(provider="google", subject="g-original", user__email="owner@example.com")
    oauth_provider.profile = Profile(subject="g-other", email="owner@example.com")

    result = browser_sign_in(oauth_provider)

    assert result == {"error": "google_account_conflict"}
    assert list(SocialIdentity.objects.values_list("subject", flat=True)) == [linked.subject]


def test_a_tampered_state_is_refused(oauth_provider):
    browser = Client(REMOTE_ADDR="203.0.113.7")
    begin = browser.get("/api/v1/auth/social/google-oauth2/begin/")
    back = urlsplit(requests.get(begin["Location"], allow_redirects=False, timeout=5).headers["Location"])
    query = {key: values[0] for key, values in parse_qs(back.query).items()}

    complete = browser.get(back.path, {**query, "state": "forged"})

    assert parse_qs(urlsplit(complete["Location"]).query) == {"error": ["social_sign_in_failed"]}
    assert not AppUser.objects.exists()


def test_a_complete_without_the_browser_session_is_refused(oauth_provider):
    begin = Client().get("/api/v1/auth/social/google-oauth2/begin/")
    back = urlsplit(requests.get(begin["Location"], allow_redirects=False, timeout=5).headers["Location"])

    complete = Client().get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})  # another browser

    assert parse_qs(urlsplit(complete["Location"]).query) == {"error": ["social_sign_in_failed"]}
    assert not AppUser.objects.exists()


def test_github_uses_the_primary_verified_address(oauth_provider):
    oauth_provider.profile = Profile(subject="4242", email="octo@example.com")

    response = exchange(browser_sign_in(oauth_provider, backend="github")["code"])

    assert response.status_code == 200
    identity = SocialIdentity.objects.get()
    assert (identity.provider, identity.subject, identity.user.email) == ("github", "4242", "octo@example.com")
    assert "/github/user/emails" in oauth_provider.requests


def test_github_unverified_primary_address_is_not_linked(oauth_provider):
    UserFactory(email="octo@example.com")
    oauth_provider.profile = Profile(subject="4243", email="octo@example.com", email_verified=False)

    result = browser_sign_in(oauth_provider, backend="github")

    assert result == {"error": "social_email_unverified"}
    assert not SocialIdentity.objects.exists()


def test_microsoft_addresses_link_nothing_unless_trusted(oauth_provider, settings):
    UserFactory(email="worker@contoso.example")
    oauth_provider.profile = Profile(subject="ms-oid-1", email="worker@contoso.example")
    settings.AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL = False

    untrusted = browser_sign_in(oauth_provider, backend="microsoft-graph")
    settings.AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL = True
    trusted = exchange(browser_sign_in(oauth_provider, backend="microsoft-graph")["code"])

    assert untrusted == {"error": "social_email_unverified"}
    assert trusted.status_code == 200 and trusted.json()["user"]["email"] == "worker@contoso.example"
    identity = SocialIdentity.objects.get()
    assert (identity.provider, identity.subject) == ("microsoft", "ms-oid-1")


def test_only_configured_providers_are_offered(oauth_provider, settings):
    settings.SOCIAL_AUTH_AUTHENTICATION_BACKENDS = ["tests.appauth.fake_oauth.FakeGithubOAuth2"]

    listed = APIClient().get("/api/v1/auth/social/providers/").json()
    unknown = Client().get("/api/v1/auth/social/google-oauth2/begin/")

    assert [p["provider"] for p in listed] == ["github"]
    assert listed[0]["begin_url"].endswith("/api/v1/auth/social/github/begin/")
    assert unknown.status_code == 404


def test_no_provider_configured_offers_none(settings):
    settings.SOCIAL_AUTH_AUTHENTICATION_BACKENDS = []

    assert APIClient().get("/api/v1/auth/social/providers/").json() == []


def test_the_provider_being_down_is_a_clean_error(oauth_provider, settings):
    browser = Client(REMOTE_ADDR="203.0.113.7")
    begin = browser.get("/api/v1/auth/social/google-oauth2/begin/")
    back = urlsplit(requests.get(begin["Location"], allow_redirects=False, timeout=5).headers["Location"])
    settings.TEST_OAUTH_PROVIDER_URL = "http://127.0.0.1:9"  # nothing listens there

    complete = browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})

    assert complete.status_code == 302
    assert parse_qs(urlsplit(complete["Location"]).query)["error"][0] in {
        "provider_unavailable",
        "social_sign_in_failed",
    }
    assert not AppUser.objects.exists()


def test_an_account_with_two_factor_sign_in_gets_a_challenge_not_a_token(oauth_provider):
    user = UserFactory(email="guarded@example.com")
    secret, _ = totp_enrol(user=user, client=CLIENT, password=DEFAULT_PASSWORD)
    totp_confirm(user=user, code=pyotp.TOTP(secret).now(), client=CLIENT)
    oauth_provider.profile = Profile(subject="g-guarded", email="guarded@example.com")

    response = exchange(browser_sign_in(oauth_provider)["code"])

    assert response.status_code == 202
    assert response.json()["mfa_required"] is True and "token" not in response.json()
    assert not AuthToken.objects.filter(user=user).exists()
