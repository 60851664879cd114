"""Changing the login email: re-auth, the new address proven, the old one notified and in force until then."""

from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from rest_framework.test import APIClient

from appauth.models import AppUser, AuthEvent
from appauth.tokens import email_change_token_make
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

CHANGE = "/api/v1/auth/email/change/"
CONFIRM = "/api/v1/auth/email/change/confirm/"


def _token_from(message):
    link = next(line for line in message.body.splitlines() if "confirm-email-change" in line)
    return parse_qs(urlparse(link.strip()).query)["token"][0]


def test_the_full_flow(auth_client, user, run_on_commit):
    old_email = user.email
    with run_on_commit():
        response = auth_client.post(
            CHANGE, {"new_email": "New@Example.com", "password": DEFAULT_PASSWORD}, format="json"
        )

    assert response.status_code == 202
    user.refresh_from_db()
    assert user.email == old_email  # in force until confirmed
    to_new = next(m for m in mail.outbox if m.to == ["new@example.com"])
    to_old = next(m for m in mail.outbox if m.to == [old_email])
    assert "new@example.com" in to_old.body
    mail.outbox.clear()

    with run_on_commit():
        confirmed = APIClient().post(CONFIRM, {"token": _token_from(to_new)}, format="json")

    assert confirmed.status_code == 200
    user.refresh_from_db()
    assert user.email == "new@example.com" and user.email_verified
    [notice] = mail.outbox
    assert notice.to == [old_email]
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.EMAIL_CHANGED, email=old_email).exists()
    login = APIClient().post("/api/v1/auth/login/", {"email": "new@example.com", "password": DEFAULT_PASSWORD})
    assert login.status_code == 200


def test_the_change_needs_the_password(auth_client, user):
    missing = auth_client.post(CHANGE, {"new_email": "new@example.com"}, format="json")
    wrong = auth_client.post(CHANGE, {"new_email": "new@example.com", "password": "nope"}, format="json")

    assert missing.json()["error"]["code"] == "reauthentication_required"
    assert wrong.json()["error"]["code"] == "invalid_password"
    assert mail.outbox == []


def test_a_taken_address_answers_the_same_and_mails_its_owner(auth_client, user, run_on_commit):
    UserFactory(email="taken@example.com")

    with run_on_commit():
        taken = auth_client.post(
            CHANGE, {"new_email": "taken@example.com", "password": DEFAULT_PASSWORD}, format="json"
        )
        free = auth_client.post(CHANGE, {"new_email": "free@example.com", "password": DEFAULT_PASSWORD}, format="json")

    assert (taken.status_code, taken.content) == (free.status_code, free.content)
    [to_taken] = [m for m in mail.outbox if m.to == ["taken@example.com"]]
    assert "already" in to_taken.subject.lower()


def test_the_link_is_single_use_and_dies_with_a_password_change(user):
    token = email_change_token_make(user=user, new_email="one@example.com")
    assert APIClient().post(CONFIRM, {"token": token}, format="json").status_code == 200
    assert APIClient().post(CONFIRM, {"token": token}, format="json").json()["error"]["code"] == "invalid_token"

    user.refresh_from_db()
    pending = email_change_token_make(user=user, new_email="two@example.com")
    user.set_password("a different passphrase")
    user.save()
    assert APIClient().post(CONFIRM, {"token": pending}, format="json").json()["error"]["code"] == "invalid_token"


def test_the_link_expires(user, settings):
    token = email_change_token_make(user=user, new_email="late@example.com")
    settings.EMAIL_VERIFICATION_TIMEOUT = -1

    assert APIClient().post(CONFIRM, {"token": token}, format="json").json()["error"]["code"] == "invalid_token"


def test_an_address_taken_in_the_meantime_is_a_conflict(user):
    token = email_change_token_make(user=user, new_email="race@example.com")
    UserFactory(email="race@example.com")

    response = APIClient().post(CONFIRM, {"token": token}, format="json")

    assert_error(response, 409, "email_taken")
    assert AppUser.objects.get(pk=user.pk).email == user.email


def test_the_same_address_is_refused(auth_client, user):
    response = auth_client.post(CHANGE, {"new_email": user.email.upper(), "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 400
