"""Password reset and change through the API."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from appauth.tokens import password_reset_token_generator, uid_encode
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"
AUTH = "/api/v1/auth"


def _body(response):
    return response.json()


def test_password_reset_answers_the_same_for_any_address(api_client, run_on_commit, settings):
    UserFactory(email="known@example.com")

    with run_on_commit():
        known = api_client.post(f"{AUTH}/password/reset/", {"email": "Known@example.com"}, format="json")
        unknown = api_client.post(f"{AUTH}/password/reset/", {"email": "unknown@example.com"}, format="json")

    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    [message] = mail.outbox
    assert message.to == ["known@example.com"]
    assert f"{settings.FRONTEND_URL}{settings.AUTH_PASSWORD_RESET_PATH}?uid=" in message.body


def test_the_reset_link_comes_from_configuration_not_the_host_header(api_client, run_on_commit, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.FRONTEND_URL = "https://app.example.com"
    UserFactory(email="known@example.com")

    with run_on_commit():
        api_client.post(
            f"{AUTH}/password/reset/", {"email": "known@example.com"}, format="json", HTTP_HOST="evil.example"
        )

    [message] = mail.outbox
    assert "https://app.example.com/reset-password?uid=" in message.body
    assert "evil.example" not in message.body + message.alternatives[0][0]


def test_reset_requests_are_limited_per_address_silently(api_client, run_on_commit):
    UserFactory(email="known@example.com")

    with run_on_commit():
        answers = {
            api_client.post(f"{AUTH}/password/reset/", {"email": "known@example.com"}, format="json").status_code
            for _ in range(6)
        }

    assert answers == {202}
    assert len(mail.outbox) == 3  # AUTH_RATE_LIMITS["password_reset_email"] = 3/h


def test_reset_confirm_sets_the_password_revokes_tokens_and_does_not_log_in(user, login_token, run_on_commit):
    token = login_token(user)
    link_token = password_reset_token_generator.make_token(user)

    with run_on_commit():
        response = APIClient().post(
            f"{AUTH}/password/reset/confirm/",
            {"uid": uid_encode(user), "token": link_token, "new_password": STRONG},
            format="json",
        )

    assert response.status_code == 200
    assert "token" not in _body(response)
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    user.refresh_from_db()
    assert user.check_password(STRONG)
    [notice] = mail.outbox
    assert "changed" in notice.subject.lower()
    assert link_token not in notice.body


def test_reset_confirm_runs_validators(user):
    response = APIClient().post(
        f"{AUTH}/password/reset/confirm/",
        {"uid": uid_encode(user), "token": password_reset_token_generator.make_token(user), "new_password": "123"},
        format="json",
    )

    assert response.status_code == 400
    assert "new_password" in _body(response)["error"]["details"]


def test_password_change_revokes_other_tokens_and_sends_a_secret_free_notice(
    user, login_token, auth_client, run_on_commit
):
    other = login_token(user)

    with run_on_commit():
        response = auth_client.post(
            f"{AUTH}/password/change/", {"current_password": DEFAULT_PASSWORD, "new_password": STRONG}, format="json"
        )

    assert response.status_code == 200
    assert auth_client.get(f"{AUTH}/profile/").status_code == 200
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 401
    [notice] = mail.outbox
    assert STRONG not in notice.body and DEFAULT_PASSWORD not in notice.body
    assert "203.0.113.7" in notice.body


def test_password_change_with_a_wrong_current_password(auth_client):
    response = auth_client.post(
        f"{AUTH}/password/change/", {"current_password": "nope", "new_password": STRONG}, format="json"
    )

    assert (response.status_code, _body(response)["error"]["code"]) == (400, "invalid_password")


def test_password_change_runs_validators(auth_client):
    response = auth_client.post(
        f"{AUTH}/password/change/",
        {"current_password": DEFAULT_PASSWORD, "new_password": "ada lovelace"},
        format="json",
    )

    assert response.status_code == 400
    assert "new_password" in _body(response)["error"]["details"]


def test_password_change_keeps_a_browser_session_signed_in(user):
    client = APIClient()
    client.force_login(user)

    client.post(
        f"{AUTH}/password/change/", {"current_password": DEFAULT_PASSWORD, "new_password": STRONG}, format="json"
    )

    assert client.get(f"{AUTH}/profile/").status_code == 200


def test_a_password_reset_ends_browser_sessions(user):
    browser = APIClient()
    browser.force_login(user)

    APIClient().post(
        f"{AUTH}/password/reset/confirm/",
        {"uid": uid_encode(user), "token": password_reset_token_generator.make_token(user), "new_password": STRONG},
        format="json",
    )

    assert browser.get(f"{AUTH}/profile/").status_code == 401
