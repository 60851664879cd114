"""Profile, account deletion and the audit trail through the API."""

import pytest
from rest_framework.test import APIClient

from appauth.models import AppUser, AuthEvent, AuthToken
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"
AUTH = "/api/v1/auth"


def _body(response):
    return response.json()


def test_profile_read(auth_client, user):
    body = _body(auth_client.get(f"{AUTH}/profile/"))

    assert body["id"] == str(user.pk)
    assert body["email"] == user.email
    assert body["has_password"] is True
    assert "is_staff" not in body and "password" not in body


def test_profile_update_ignores_protected_fields(auth_client, user):
    response = auth_client.patch(
        f"{AUTH}/profile/",
        {
            "first_name": "Grace",
            "email": "attacker@example.com",
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "email_verified": False,
            "password": "new password please",
        },
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.first_name == "Grace"
    assert user.email != "attacker@example.com"
    assert not user.is_staff and not user.is_superuser and user.is_active and user.email_verified
    assert user.check_password(DEFAULT_PASSWORD)


def test_account_deletion_needs_the_password(auth_client, user):
    missing = auth_client.delete(f"{AUTH}/account/", {}, format="json")
    wrong = auth_client.delete(f"{AUTH}/account/", {"password": "nope"}, format="json")

    assert _body(missing)["error"]["code"] == "reauthentication_required"
    assert _body(wrong)["error"]["code"] == "invalid_password"
    assert AppUser.objects.filter(pk=user.pk).exists()


def test_account_deletion_removes_the_user_and_every_token(auth_client, user, login_token):
    other = login_token(user)

    response = auth_client.delete(f"{AUTH}/account/", {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 204
    assert not AppUser.objects.filter(pk=user.pk).exists()
    assert not AuthToken.objects.exists()
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 401


def test_audit_events_hold_no_secrets(api_client, run_on_commit):
    with run_on_commit():
        api_client.post(f"{AUTH}/register/", {"email": "audit@example.com", "password": STRONG}, format="json")
    user = AppUser.objects.get(email="audit@example.com")
    api_client.post(f"{AUTH}/login/", {"email": user.email, "password": "wrong guess 1"}, format="json")
    token = _body(api_client.post(f"{AUTH}/login/", {"email": user.email, "password": STRONG}, format="json"))["token"]
    client = APIClient(REMOTE_ADDR="198.51.100.20", HTTP_USER_AGENT="other")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.post(
        f"{AUTH}/password/change/", {"current_password": STRONG, "new_password": "brand new passphrase"}, format="json"
    )
    api_client.post(f"{AUTH}/password/reset/", {"email": user.email}, format="json")

    events = list(AuthEvent.objects.order_by("id"))
    kinds = [e.kind for e in events]
    assert kinds[:3] == [AuthEvent.Kind.REGISTERED, AuthEvent.Kind.LOGIN_FAILED, AuthEvent.Kind.LOGIN_SUCCEEDED]
    assert AuthEvent.Kind.PASSWORD_CHANGED in kinds
    assert AuthEvent.Kind.PASSWORD_RESET_REQUESTED in kinds
    dump = " ".join(f"{e.email} {e.user_agent} {e.details}" for e in events)
    for secret in [STRONG, "wrong guess 1", "brand new passphrase", token, token[:15]]:
        assert secret not in dump
    assert all(e.ip_address for e in events)


def test_an_empty_update_changes_nothing(auth_client, user):
    response = auth_client.patch(f"{AUTH}/profile/", {}, format="json")

    assert response.status_code == 200
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.PROFILE_UPDATED).exists()


def test_a_name_update_is_audited(auth_client, user):
    auth_client.patch(f"{AUTH}/profile/", {"last_name": "Byron"}, format="json")

    event = AuthEvent.objects.get(kind=AuthEvent.Kind.PROFILE_UPDATED)
    assert event.details == {"fields": ["last_name"]}
