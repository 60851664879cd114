"""The sign-up policy over HTTP: open, invite-only, allowed domains, admin approval.

It applies to password registration, browser provider sign-up and the mobile Google sign-in
alike; existing accounts sign in whatever the policy.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from appauth import services
from appauth.models import AppUser, Invitation
from tests.appauth.fake_oauth import Profile
from tests.appauth.test_social_flow import browser_sign_in, exchange
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

AUTH = "/api/v1/auth"
STRONG = "a perfectly fine passphrase"


def register(email: str, **extra: str):
    return APIClient(REMOTE_ADDR="203.0.113.7").post(
        f"{AUTH}/register/", {"email": email, "password": STRONG, **extra}, format="json"
    )


def invite(**kwargs) -> tuple[Invitation, str]:
    return services.invitation_create(created_by=None, **kwargs)


@pytest.fixture
def invite_only(settings):
    settings.AUTH_SIGNUP_POLICY = "invite"


# --- invite-only -------------------------------------------------------------------------------


def test_invite_only_refuses_registration_without_a_valid_invitation(invite_only):
    missing = register("new@example.com")
    wrong = register("new@example.com", invitation="made-up")

    assert missing.status_code == wrong.status_code == 400
    assert missing.json()["error"]["code"] == wrong.json()["error"]["code"] == "invitation_invalid"
    assert not AppUser.objects.exists()


def test_an_invitation_signs_up_once(invite_only):
    invitation, code = invite()

    first = register("new@example.com", invitation=code)
    second = register("other@example.com", invitation=code)

    assert first.status_code == 202
    invitation.refresh_from_db()
    assert invitation.accepted_by == AppUser.objects.get(email="new@example.com")
    assert second.json()["error"]["code"] == "invitation_invalid"
    assert not AppUser.objects.filter(email="other@example.com").exists()


def test_an_expired_invitation_is_refused(invite_only):
    invitation, code = invite()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = register("new@example.com", invitation=code)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invitation_expired"
    assert not AppUser.objects.exists()


def test_an_invitation_for_an_address_is_only_for_that_address(invite_only):
    _, code = invite(email="Invited@Example.com")

    assert register("someone.else@example.com", invitation=code).json()["error"]["code"] == "invitation_invalid"
    assert register("invited@example.com", invitation=code).status_code == 202


def test_the_policy_is_checked_before_anything_reveals_an_account(invite_only):
    UserFactory(email="taken@example.com")

    assert register("taken@example.com").json() == register("free@example.com").json()


def test_invite_only_applies_to_browser_provider_sign_up(invite_only, oauth_provider):
    oauth_provider.profile = Profile(subject="g-new", email="newcomer@example.com")
    assert browser_sign_in(oauth_provider) == {"error": "invitation_invalid"}
    _, code = invite()

    result = browser_sign_in(oauth_provider, invitation=code)

    assert exchange(result["code"]).status_code == 200
    assert AppUser.objects.filter(email="newcomer@example.com").exists()


def test_invite_only_applies_to_mobile_google_sign_up(invite_only, google):
    token = google.id_token(sub="g-mobile", email="mobile@example.com")
    refused = APIClient().post(f"{AUTH}/login/google/", {"id_token": token}, format="json")
    _, code = invite()

    accepted = APIClient().post(f"{AUTH}/login/google/", {"id_token": token, "invitation": code}, format="json")

    assert refused.json()["error"]["code"] == "invitation_invalid"
    assert accepted.status_code == 200


def test_existing_accounts_sign_in_with_a_provider_without_an_invitation(invite_only, oauth_provider):
    UserFactory(email="member@example.com")
    oauth_provider.profile = Profile(subject="g-member", email="member@example.com")

    assert exchange(browser_sign_in(oauth_provider)["code"]).status_code == 200


# --- allowed domains ---------------------------------------------------------------------------


def test_only_allowed_domains_sign_up(settings, oauth_provider):
    settings.AUTH_SIGNUP_POLICY = "domains"
    settings.AUTH_SIGNUP_ALLOWED_DOMAINS = ["example.org"]
    oauth_provider.profile = Profile(subject="g-outsider", email="outsider@example.com")

    refused = register("someone@example.com")
    accepted = register("Someone@Example.org")

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "signup_domain_not_allowed"
    assert accepted.status_code == 202
    assert browser_sign_in(oauth_provider) == {"error": "signup_domain_not_allowed"}


# --- admin approval ----------------------------------------------------------------------------


@pytest.fixture
def approval(settings):
    settings.AUTH_SIGNUP_POLICY = "approval"


def test_approval_keeps_new_accounts_inactive_until_staff_approve(approval, run_on_commit, client):
    with run_on_commit():
        assert register("waiting@example.com").status_code == 202
    user = AppUser.objects.get(email="waiting@example.com")
    assert (user.is_active, user.pending_approval) == (False, True)
    assert mail.outbox == []  # nothing to verify before approval

    right = APIClient().post(f"{AUTH}/login/", {"email": user.email, "password": STRONG}, format="json")
    wrong = APIClient().post(f"{AUTH}/login/", {"email": user.email, "password": "not the one"}, format="json")
    assert right.status_code == 403 and right.json()["error"]["code"] == "account_pending_approval"
    assert wrong.json()["error"]["code"] == "invalid_credentials"  # only the owner learns the state

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    with run_on_commit():
        client.post(
            reverse("admin:appauth_appuser_changelist"),
            {"action": "approve_accounts", "_selected_action": [str(user.pk)]},
        )

    user.refresh_from_db()
    assert (user.is_active, user.pending_approval) == (True, False)
    assert [m.to for m in mail.outbox] == [["waiting@example.com"]]  # the verification link
    assert (
        APIClient().post(f"{AUTH}/login/", {"email": user.email, "password": STRONG}, format="json").status_code == 200
    )


def test_approval_applies_to_provider_sign_up(approval, oauth_provider):
    oauth_provider.profile = Profile(subject="g-pending", email="pending@example.com")

    first = browser_sign_in(oauth_provider)
    again = browser_sign_in(oauth_provider)

    assert first == again == {"error": "account_pending_approval"}
    user = AppUser.objects.get(email="pending@example.com")
    assert (user.is_active, user.pending_approval) == (False, True)


# --- invitations API and admin (staff) ---------------------------------------------------------


def staff_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True))
    return client


def test_staff_create_list_and_revoke_invitations(settings):
    settings.FRONTEND_URL = "https://app.example.com"
    client = staff_client()

    created = client.post(f"{AUTH}/invitations/", {"email": "guest@example.com", "expires_in_days": 2}, format="json")

    assert created.status_code == 201
    body = created.json()
    assert body["link"] == f"https://app.example.com/sign-up?invitation={body['code']}"
    assert body["status"] == "pending"
    invitation = Invitation.objects.get()
    assert body["code"] not in invitation.digest
    assert timedelta(days=1, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=2)
    listed = client.get(f"{AUTH}/invitations/").json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    assert "code" not in listed["results"][0]

    assert client.delete(f"{AUTH}/invitations/{body['id']}/").status_code == 204
    settings.AUTH_SIGNUP_POLICY = "invite"
    assert register("guest@example.com", invitation=body["code"]).json()["error"]["code"] == "invitation_invalid"


def test_invitations_are_for_staff_only(user, auth_client):
    assert auth_client.get(f"{AUTH}/invitations/").status_code == 403
    assert auth_client.post(f"{AUTH}/invitations/", {}, format="json").status_code == 403
    assert APIClient().get(f"{AUTH}/invitations/").status_code == 401


def test_invitation_input_is_validated():
    response = staff_client().post(f"{AUTH}/invitations/", {"expires_in_days": 0}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"]


def test_staff_create_an_invitation_in_the_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    expires = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d")

    response = client.post(
        reverse("admin:appauth_invitation_add"),
        {"email": "admin-guest@example.com", "note": "", "expires_at_0": expires, "expires_at_1": "12:00:00"},
        follow=True,
    )

    assert response.status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.email == "admin-guest@example.com" and invitation.digest
    assert b"invitation=" in response.content  # the link, shown once


def test_staff_who_must_use_two_factor_sign_in_cannot_manage_invitations_before_enrolling(settings):
    settings.AUTH_MFA_REQUIRED_FOR_STAFF = True
    client = staff_client()

    response = client.get(f"{AUTH}/invitations/")

    assert_error(response, 403, "mfa_enrollment_required")
    settings.AUTH_MFA_REQUIRED_FOR_STAFF = False
    assert client.get(f"{AUTH}/invitations/").status_code == 200
