"""Per-IP throttles: 429 + Retry-After, and X-Forwarded-For cannot be used to dodge them."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
BODY = {"email": "someone@example.com", "password": "whatever it is"}


@pytest.fixture
def tight_login_limit(settings):
    settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, "login_ip": "3/m"}
    # Keep the account lockout out of the way: different emails per attempt below.
    return 3


def _attempt(client, index, **headers):
    return client.post(LOGIN, {**BODY, "email": f"person{index}@example.com"}, format="json", **headers)


def test_the_login_throttle_answers_429_with_retry_after(tight_login_limit):
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    answers = [_attempt(client, i) for i in range(tight_login_limit + 1)]

    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    blocked = answers[-1]
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked.json()["error"]["code"] == "rate_limited"


def test_a_spoofed_forwarded_for_does_not_reset_the_budget(tight_login_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    for i in range(tight_login_limit):
        _attempt(client, i, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")

    assert _attempt(client, 99, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_one_proxy_the_client_prepending_addresses_does_not_help(tight_login_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")
    for i in range(tight_login_limit):
        _attempt(proxy, i, HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, 203.0.113.50")

    assert _attempt(proxy, 99, HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.50").status_code == 429
    # A different real client behind the same proxy has its own budget.
    assert _attempt(proxy, 100, HTTP_X_FORWARDED_FOR="203.0.113.51").status_code == 400


def test_other_clients_are_not_affected(tight_login_limit):
    for i in range(tight_login_limit + 1):
        _attempt(APIClient(REMOTE_ADDR="198.51.100.7"), i)

    assert _attempt(APIClient(REMOTE_ADDR="198.51.100.8"), 0).status_code == 400


@pytest.mark.parametrize(
    ("scope", "path", "body"),
    [
        ("register_ip", "register/", {"email": "x@example.com", "password": "a perfectly fine passphrase"}),
        ("password_reset_ip", "password/reset/", {"email": "x@example.com"}),
        ("resend_verification_ip", "verify-email/resend/", {"email": "x@example.com"}),
        ("verify_email_ip", "verify-email/", {"uid": "x", "token": "y"}),
        ("password_reset_confirm_ip", "password/reset/confirm/", {"uid": "x", "token": "y", "new_password": "z"}),
        ("google_login_ip", "login/google/", {"id_token": "x"}),
    ],
)
def test_every_public_endpoint_is_throttled_per_ip(settings, scope, path, body):
    settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, scope: "1/h"}
    client = APIClient(REMOTE_ADDR="198.51.100.9")
    client.post(f"/api/v1/auth/{path}", body, format="json")

    response = client.post(f"/api/v1/auth/{path}", body, format="json")

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_password_change_is_limited_per_account(settings, auth_client):
    settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, "password_change_user": "2/m"}
    body = {"current_password": "wrong", "new_password": "a perfectly fine passphrase"}
    codes = [auth_client.post("/api/v1/auth/password/change/", body, format="json").status_code for _ in range(3)]

    assert codes == [400, 400, 429]
