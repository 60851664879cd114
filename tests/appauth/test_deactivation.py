"""Deactivating an account revokes its access at once, however it is deactivated.

(That it also stops the user's running generations is proven over a real server in
tests/e2e/test_account_deactivation.py.)
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from appauth import services
from appauth.models import AuthEvent, AuthToken
from tests.appauth.factories import CLIENT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INLINES = ("auth_token_set", "social_identities", "totp_device")


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_service_revokes_every_token_and_the_next_request_is_401(user, login_token, run_on_commit):
    phone, laptop = token_client(login_token(user)), token_client(login_token(user))
    assert phone.get("/api/v1/auth/profile/").status_code == 200

    with run_on_commit():
        services.user_deactivate(user=user, client=CLIENT)

    assert phone.get("/api/v1/auth/profile/").status_code == 401
    assert laptop.get("/api/v1/auth/tokens/").status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()
    assert AuthEvent.objects.filter(user=user, kind=AuthEvent.Kind.ACCOUNT_DEACTIVATED).exists()


def test_browser_sessions_end_too(user, run_on_commit, client):
    client.force_login(user)
    assert client.get("/api/v1/auth/profile/").status_code == 200

    with run_on_commit():
        services.user_deactivate(user=user)

    assert client.get("/api/v1/auth/profile/").status_code in (401, 403)


def test_the_admin_action_deactivates_but_never_the_acting_admin(client, login_token, run_on_commit):
    admin = UserFactory(is_staff=True, is_superuser=True)
    target = UserFactory()
    api = token_client(login_token(target))
    client.force_login(admin)

    with run_on_commit():
        client.post(
            reverse("admin:appauth_appuser_changelist"),
            {"action": "deactivate_accounts", "_selected_action": [str(target.pk), str(admin.pk)]},
        )

    target.refresh_from_db()
    admin.refresh_from_db()
    assert not target.is_active and admin.is_active
    assert api.get("/api/v1/auth/profile/").status_code == 401


def test_unticking_active_in_the_admin_form_revokes_tokens(client, login_token, run_on_commit):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    target = UserFactory(email="target@example.com")
    api = token_client(login_token(target))
    url = reverse("admin:appauth_appuser_change", args=[target.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "avatar"}
    data.pop("is_active")  # unticked
    data.update(
        {
            "date_joined_0": target.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": target.date_joined.strftime("%H:%M:%S"),
            "groups": [],
            "user_permissions": [],
            **{f"{prefix}-{count}": "0" for prefix in INLINES for count in ("TOTAL_FORMS", "INITIAL_FORMS")},
        }
    )
    data["auth_token_set-INITIAL_FORMS"] = data["auth_token_set-TOTAL_FORMS"] = "1"
    data["auth_token_set-0-id"] = str(AuthToken.objects.get(user=target).pk)
    data["auth_token_set-0-user"] = str(target.pk)

    with run_on_commit():
        response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    target.refresh_from_db()
    assert not target.is_active
    assert api.get("/api/v1/auth/profile/").status_code == 401
    assert not AuthToken.objects.filter(user=target).exists()


def test_a_rolled_back_deactivation_revokes_nothing(user, login_token):
    api = token_client(login_token(user))

    with pytest.raises(RuntimeError), transaction.atomic():
        services.user_deactivate(user=user)
        raise RuntimeError("rolled back")

    assert api.get("/api/v1/auth/profile/").status_code == 200


def test_reactivating_and_saving_again_does_not_revoke(user, login_token, run_on_commit):
    user.is_active = False
    user.save()
    user.is_active = True
    user.save()
    api = token_client(login_token(user))

    with run_on_commit():
        user.first_name = "Renamed"
        user.save()

    assert api.get("/api/v1/auth/profile/").status_code == 200
