"""Login through the API: the answer, enumeration safety, lockout, notices."""

import logging
from unittest import mock

import pytest
from django.core import mail
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from appauth import services
from appauth.models import AuthToken
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"
AUTH = "/api/v1/auth"


def _body(response):
    return response.json()


def test_login_returns_token_expiry_and_user(api_client):
    user = UserFactory()

    response = api_client.post(
        f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD, "device_name": "Pixel 9"}, format="json"
    )

    assert response.status_code == 200
    body = _body(response)
    assert set(body) == {"token", "expiry", "user"}
    assert body["token"].startswith("aia_")
    assert body["user"]["email"] == user.email
    assert "password" not in body["user"]
    token = AuthToken.objects.get(user=user)
    assert token.device_name == "Pixel 9"
    assert token.user_agent == "pytest-agent/1.0"
    assert token.ip_address == "203.0.113.7"


def test_the_database_holds_only_a_digest_and_the_token_key(api_client, caplog):
    user = UserFactory()
    with caplog.at_level(logging.DEBUG):
        token = _body(
            api_client.post(f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
        )["token"]
        APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {token}")

    row = AuthToken.objects.get(user=user)
    assert row.token_key == token[: CONSTANTS.TOKEN_KEY_LENGTH]
    assert token not in {row.digest, row.token_key}
    stored = [str(value) for value in AuthToken.objects.values_list(*[f.attname for f in AuthToken._meta.fields]).get()]
    assert not any(token in value for value in stored)
    assert token not in caplog.text
    assert DEFAULT_PASSWORD not in caplog.text


def test_unknown_email_and_wrong_password_answer_identically(api_client):
    user = UserFactory()

    wrong = api_client.post(f"{AUTH}/login/", {"email": user.email, "password": "not it at all"}, format="json")
    unknown = api_client.post(f"{AUTH}/login/", {"email": "nobody@example.com", "password": "not it"}, format="json")

    assert wrong.status_code == unknown.status_code == 400
    assert _body(wrong) == _body(unknown)
    assert _body(wrong)["error"]["code"] == "invalid_credentials"


def test_inactive_users_cannot_log_in(api_client):
    user = UserFactory(is_active=False)

    response = api_client.post(f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert _body(response)["error"]["code"] == "invalid_credentials"
    assert not AuthToken.objects.exists()


def test_unverified_accounts_may_log_in_and_are_flagged(api_client):
    user = UserFactory(email_verified=False)

    response = api_client.post(f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200
    assert _body(response)["user"]["email_verified"] is False


def test_lockout_answers_429_with_retry_after(api_client, settings):
    user = UserFactory()
    for _ in range(settings.AUTH_LOCKOUT_THRESHOLD - 1):
        api_client.post(f"{AUTH}/login/", {"email": user.email, "password": "wrong"}, format="json")

    response = api_client.post(f"{AUTH}/login/", {"email": user.email, "password": "wrong"}, format="json")

    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.AUTH_LOCKOUT_BASE_SECONDS)
    assert _body(response)["error"]["code"] == "account_locked"


def test_a_new_device_gets_exactly_one_notice(api_client, run_on_commit):
    user = UserFactory()
    phone = APIClient(REMOTE_ADDR="192.0.2.50", HTTP_USER_AGENT="PhoneApp/2.0")
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}

    with run_on_commit():
        api_client.post(f"{AUTH}/login/", credentials, format="json")  # the first login ever: no notice
        api_client.post(f"{AUTH}/login/", credentials, format="json")  # known device: no notice
        phone.post(f"{AUTH}/login/", credentials, format="json")
        phone.post(f"{AUTH}/login/", credentials, format="json")

    [notice] = mail.outbox
    assert notice.to == [user.email]
    assert "192.0.2.50" in notice.body
    assert "PhoneApp/2.0" in notice.body


def test_a_mail_failure_never_breaks_login(api_client, run_on_commit):
    user = UserFactory()
    services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=services.ClientInfo(ip="192.0.2.1"))

    with (
        mock.patch("appauth.services.notifications.send_email", side_effect=ConnectionRefusedError("smtp down")),
        run_on_commit(),
    ):
        response = api_client.post(f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200
    assert mail.outbox == []


def test_a_stale_token_header_does_not_block_public_endpoints(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token aia_revoked000000000000")

    response = client.post(f"{AUTH}/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200
