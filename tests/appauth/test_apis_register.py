"""Registration and email verification through the API."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from appauth.models import AppUser
from appauth.tokens import email_verification_token_generator, uid_encode
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"
AUTH = "/api/v1/auth"


def _body(response):
    return response.json()


def test_register_answers_202_and_mails_a_verification_link(api_client, run_on_commit, settings):
    with run_on_commit():
        response = api_client.post(f"{AUTH}/register/", {"email": "New@Example.com", "password": STRONG}, format="json")

    assert response.status_code == 202
    user = AppUser.objects.get(email="new@example.com")
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    assert f"{settings.FRONTEND_URL}{settings.AUTH_VERIFY_EMAIL_PATH}?uid={uid_encode(user)}&token=" in message.body
    assert message.alternatives and "text/html" in message.alternatives[0][1]


def test_duplicate_registration_answers_exactly_like_a_new_one_and_mails_the_owner(api_client, run_on_commit):
    owner = UserFactory(email="owner@example.com")

    with run_on_commit():
        new = api_client.post(f"{AUTH}/register/", {"email": "fresh@example.com", "password": STRONG}, format="json")
        duplicate = api_client.post(
            f"{AUTH}/register/", {"email": "OWNER@example.com", "password": STRONG}, format="json"
        )

    assert (new.status_code, _body(new)) == (duplicate.status_code, _body(duplicate))
    assert AppUser.objects.filter(email="owner@example.com").count() == 1
    owner.refresh_from_db()
    assert owner.check_password(DEFAULT_PASSWORD)
    already = [m for m in mail.outbox if m.to == ["owner@example.com"]]
    assert len(already) == 1
    assert "already" in already[0].subject.lower()


def test_register_refuses_weak_passwords_in_the_error_shape(api_client):
    response = api_client.post(
        f"{AUTH}/register/", {"email": "weak@example.com", "password": "password"}, format="json"
    )

    assert response.status_code == 400
    assert _body(response)["error"]["code"] == "invalid"
    assert "password" in _body(response)["error"]["details"]


def test_passwords_are_taken_exactly_as_typed(api_client):
    """No trimming, no truncation; long and Unicode passwords work."""
    spaced = "  spaces around this passphrase  "
    long_unicode = "pässwörd-" + "密码" * 40 + "-🔑" * 10
    assert len(long_unicode) > 64
    for index, password in enumerate([spaced, long_unicode]):
        email = f"exact{index}@example.com"
        api_client.post(f"{AUTH}/register/", {"email": email, "password": password}, format="json")

        assert (
            api_client.post(f"{AUTH}/login/", {"email": email, "password": password}, format="json").status_code == 200
        )
        for near_miss in {password.strip(), password[:64], password + " "} - {password}:
            response = api_client.post(f"{AUTH}/login/", {"email": email, "password": near_miss}, format="json")
            assert response.status_code == 400, near_miss


def test_verify_email_with_the_emailed_link(api_client, run_on_commit):
    user = UserFactory(email_verified=False)
    token = email_verification_token_generator.make_token(user)

    response = api_client.post(f"{AUTH}/verify-email/", {"uid": uid_encode(user), "token": token}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email_verified


@pytest.mark.parametrize(
    ("uid", "token"),
    [
        ("garbage", "1-abc"),
        ("", ""),
        ("MTIz", "zzzzzz-0000"),
        ("bm90LWEtdXVpZA", "abc-def"),
    ],
)
def test_malformed_verification_links_are_a_clean_400(api_client, uid, token):
    response = api_client.post(f"{AUTH}/verify-email/", {"uid": uid, "token": token}, format="json")

    assert response.status_code == 400
    assert _body(response)["error"]["code"] in {"invalid_token", "invalid"}


def test_a_tampered_verification_token_is_refused(api_client):
    user = UserFactory(email_verified=False)
    token = email_verification_token_generator.make_token(user)
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")

    response = api_client.post(f"{AUTH}/verify-email/", {"uid": uid_encode(user), "token": tampered}, format="json")

    assert (response.status_code, _body(response)["error"]["code"]) == (400, "invalid_token")


def test_resend_answers_the_same_for_any_address_and_is_limited_per_address(api_client, run_on_commit):
    UserFactory(email="pending@example.com", email_verified=False)
    UserFactory(email="done@example.com", email_verified=True)

    with run_on_commit():
        answers = [
            api_client.post(f"{AUTH}/verify-email/resend/", {"email": email}, format="json")
            for email in ["pending@example.com", "done@example.com", "nobody@example.com"]
        ]
    assert len({(r.status_code, r.content) for r in answers}) == 1
    assert answers[0].status_code == 202
    assert [m.to for m in mail.outbox] == [["pending@example.com"]]

    with run_on_commit():
        for _ in range(5):
            api_client.post(f"{AUTH}/verify-email/resend/", {"email": "pending@example.com"}, format="json")
    assert len(mail.outbox) == 3  # AUTH_RATE_LIMITS["resend_verification_email"] = 3/h


@pytest.mark.postgres  # concurrent writers: SQLite refuses them outright ("database is locked")
@pytest.mark.django_db(transaction=True)
def test_concurrent_same_email_registrations_leave_one_account():
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    statuses = []

    def register():
        try:
            barrier.wait()
            response = APIClient(REMOTE_ADDR="198.51.100.4").post(
                f"{AUTH}/register/", {"email": "racer@example.com", "password": STRONG}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [202] * 4
    assert AppUser.objects.filter(email="racer@example.com").count() == 1
