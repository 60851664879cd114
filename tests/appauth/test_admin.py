"""The admin shows users, tokens and the audit trail; the trail is read-only."""

import pytest
from django.urls import reverse

from appauth import services
from appauth.models import AppUser, AuthEvent, AuthToken
from appauth.services.login import login_lockout
from tests.appauth.factories import CLIENT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_users_tokens_and_events_are_listed(admin_client):
    user = UserFactory(email="listed@example.com")
    services.token_create(user=user, client=CLIENT, device_name="tablet")
    services.auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, user=user, client=CLIENT)

    for name in ["appuser", "authtoken", "authevent"]:
        response = admin_client.get(reverse(f"admin:appauth_{name}_changelist"))
        assert response.status_code == 200, name
    assert b"listed@example.com" in admin_client.get(reverse("admin:appauth_appuser_changelist")).content
    assert b"tablet" in admin_client.get(reverse("admin:appauth_authtoken_changelist")).content
    assert admin_client.get(reverse("admin:appauth_appuser_change", args=[user.pk])).status_code == 200


def test_audit_events_cannot_be_changed_or_deleted_in_the_admin(admin_client):
    event = services.auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, email="x@example.com", client=CLIENT)

    assert admin_client.get(reverse("admin:appauth_authevent_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:appauth_authevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert AuthEvent.objects.filter(pk=event.pk).exists()


def test_admin_can_revoke_a_token(admin_client):
    user = UserFactory()
    token, _ = services.token_create(user=user, client=CLIENT)

    admin_client.post(reverse("admin:appauth_authtoken_delete", args=[token.pk]), {"post": "yes"})

    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_admin_unlock_action_clears_the_lockout(admin_client, settings):
    user = UserFactory()
    lockout = login_lockout()
    for _ in range(settings.AUTH_LOCKOUT_THRESHOLD):
        lockout.register_failure(user.email)

    admin_client.post(
        reverse("admin:appauth_appuser_changelist"), {"action": "unlock_accounts", "_selected_action": [str(user.pk)]}
    )

    assert lockout.remaining(user.email) == 0


def test_admin_creates_a_user_by_email(admin_client):
    assert admin_client.get(reverse("admin:appauth_appuser_add")).status_code == 200

    response = admin_client.post(
        reverse("admin:appauth_appuser_add"),
        {
            "email": "Created@Example.com",
            "usable_password": "true",
            "password1": "a perfectly fine passphrase",
            "password2": "a perfectly fine passphrase",
        },
    )

    assert response.status_code == 302, response.content
    user = AppUser.objects.get(email="created@example.com")
    assert user.username.startswith("user_")
    assert user.check_password("a perfectly fine passphrase")


def test_admin_edits_a_user(admin_client):
    user = UserFactory()
    page = admin_client.get(reverse("admin:appauth_appuser_change", args=[user.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "avatar"}
    data.update(
        {
            "first_name": "Renamed",
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "groups": [],
            "user_permissions": [],
            "auth_token_set-TOTAL_FORMS": "0",
            "auth_token_set-INITIAL_FORMS": "0",
            "social_identities-TOTAL_FORMS": "0",
            "social_identities-INITIAL_FORMS": "0",
            "totp_device-TOTAL_FORMS": "0",
            "totp_device-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(reverse("admin:appauth_appuser_change", args=[user.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    user.refresh_from_db()
    assert user.first_name == "Renamed"
