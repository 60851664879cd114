"""Two-factor sign-in end to end over HTTP: enrol, confirm, sign in with the second step, disable.

Codes come from pyotp with the secret the API handed out, as an authenticator app would
compute them; nothing of the verification is mocked.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from appauth.forms import AdminLoginForm
from appauth.models import AuthToken, RecoveryCode, TOTPDevice
from tests.appauth.factories import SocialIdentityFactory
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/auth"


def code_at(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


def login(email: str, password: str = DEFAULT_PASSWORD, **extra: Any):
    return APIClient(REMOTE_ADDR="203.0.113.7").post(
        f"{API}/login/", {"email": email, "password": password, **extra}, format="json"
    )


def second_step(challenge: str, **body: Any):
    return APIClient(REMOTE_ADDR="203.0.113.7").post(
        f"{API}/login/2fa/", {"challenge": challenge, **body}, format="json"
    )


def clear_of_a_step_boundary(margin: float = 3.0) -> None:
    """Wait for the next 30 s step when this one ends within `margin` seconds.

    A code of the previous step is accepted only while the server's clock is in the next one: if
    the step changed between making the code and checking it, the code would be two steps old.
    """
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


def enrol(client: APIClient) -> tuple[str, list[str]]:
    """Enrol and confirm; returns the secret and the recovery codes. Uses the previous step's code."""
    started = client.post(f"{API}/2fa/totp/", {"password": DEFAULT_PASSWORD}, format="json")
    assert started.status_code == 200, started.json()
    secret = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    clear_of_a_step_boundary()
    confirmed = client.post(f"{API}/2fa/totp/confirm/", {"code": code_at(secret, -1)}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    return secret, confirmed.json()["recovery_codes"]


@pytest.fixture
def enrolled(user, auth_client) -> tuple[Any, str, list[str]]:
    secret, recovery_codes = enrol(auth_client)
    return user, secret, recovery_codes


def test_enrolment_needs_the_password(auth_client):
    missing = auth_client.post(f"{API}/2fa/totp/", {}, format="json")
    wrong = auth_client.post(f"{API}/2fa/totp/", {"password": "not it at all"}, format="json")

    assert missing.status_code == 400 and missing.json()["error"]["code"] == "reauthentication_required"
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_password"
    assert not TOTPDevice.objects.exists()


def test_enrolment_is_active_only_after_a_correct_first_code(user, auth_client):
    secret = auth_client.post(f"{API}/2fa/totp/", {"password": DEFAULT_PASSWORD}, format="json").json()["secret"]

    wrong = auth_client.post(f"{API}/2fa/totp/confirm/", {"code": "000000"}, format="json")

    assert wrong.json()["error"]["code"] == "invalid_mfa_code"
    assert login(user.email).status_code == 200  # not yet on: a plain token
    assert auth_client.post(f"{API}/2fa/totp/confirm/", {"code": code_at(secret)}, format="json").status_code == 200
    assert auth_client.get(f"{API}/2fa/").json()["enabled"] is True


def test_the_secret_and_recovery_codes_are_not_stored_in_clear(enrolled):
    user, secret, recovery_codes = enrolled

    device = TOTPDevice.objects.get(user=user)
    stored = [row.digest for row in RecoveryCode.objects.filter(user=user)]
    assert secret not in device.encrypted_secret
    assert len(recovery_codes) == 10 == len(stored)
    assert not set(recovery_codes) & set(stored)
    assert all(code.replace("-", "") not in digest for code in recovery_codes for digest in stored)


def test_login_answers_second_factor_required_and_no_token(enrolled):
    user, secret, _ = enrolled
    tokens_before = AuthToken.objects.count()

    response = login(user.email)

    assert response.status_code == 202
    body = response.json()
    assert body["mfa_required"] is True and body["methods"] == ["totp", "recovery_code"]
    assert 0 < body["expires_in"] <= 300
    assert "token" not in body
    assert AuthToken.objects.count() == tokens_before
    finished = second_step(body["challenge"], code=code_at(secret, 1), device_name="phone")
    assert finished.status_code == 200
    assert set(finished.json()) == {"token", "expiry", "user"}
    me = APIClient().get(f"{API}/profile/", HTTP_AUTHORIZATION=f"Token {finished.json()['token']}")
    assert me.status_code == 200


def test_a_totp_code_is_refused_when_replayed_within_its_window(enrolled):
    user, secret, _ = enrolled
    code = code_at(secret, 1)
    assert second_step(login(user.email).json()["challenge"], code=code).status_code == 200

    replay = second_step(login(user.email).json()["challenge"], code=code)

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_mfa_code"


def test_an_older_code_than_the_last_one_used_is_refused(enrolled):
    user, secret, _ = enrolled
    assert second_step(login(user.email).json()["challenge"], code=code_at(secret, 1)).status_code == 200

    older = second_step(login(user.email).json()["challenge"], code=code_at(secret, 0))

    assert older.json()["error"]["code"] == "invalid_mfa_code"


def test_a_recovery_code_works_once(enrolled):
    user, _, recovery_codes = enrolled

    first = second_step(login(user.email).json()["challenge"], recovery_code=recovery_codes[0].upper())
    reused = second_step(login(user.email).json()["challenge"], recovery_code=recovery_codes[0])

    assert first.status_code == 200
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "invalid_mfa_code"
    assert second_step(login(user.email).json()["challenge"], recovery_code=recovery_codes[1]).status_code == 200


def test_the_challenge_is_single_use_and_must_be_known(enrolled):
    user, secret, _ = enrolled
    challenge = login(user.email).json()["challenge"]
    assert second_step(challenge, code=code_at(secret, 1)).status_code == 200

    reused = second_step(challenge, code=code_at(secret, 1))
    forged = second_step("not-a-challenge", code=code_at(secret, 1))

    assert reused.json()["error"]["code"] == forged.json()["error"]["code"] == "mfa_challenge_invalid"


def test_the_challenge_expires(enrolled, settings):
    settings.AUTH_MFA_CHALLENGE_SECONDS = 1
    user, secret, _ = enrolled
    challenge = login(user.email).json()["challenge"]
    time.sleep(1.5)  # the cache's own expiry is what is under test; nothing to await

    response = second_step(challenge, code=code_at(secret, 1))

    assert response.json()["error"]["code"] == "mfa_challenge_invalid"


def test_exactly_one_of_code_or_recovery_code(enrolled):
    user, _, _ = enrolled
    challenge = login(user.email).json()["challenge"]

    neither = second_step(challenge)
    both = second_step(challenge, code="123456", recovery_code="abcde-fghjk")

    assert neither.status_code == both.status_code == 400
    assert "code" in neither.json()["error"]["message"]


def test_wrong_codes_lock_the_second_step_of_the_account(enrolled, settings):
    user, secret, _ = enrolled
    tokens_before = AuthToken.objects.filter(user=user).count()
    challenge = login(user.email).json()["challenge"]
    answers = [second_step(challenge, code="000000") for _ in range(settings.AUTH_LOCKOUT_THRESHOLD)]

    assert [a.status_code for a in answers[:-1]] == [400] * (settings.AUTH_LOCKOUT_THRESHOLD - 1)
    assert answers[-1].status_code == 429
    assert answers[-1].json()["error"]["code"] == "account_locked"
    assert int(answers[-1]["Retry-After"]) > 0
    # A fresh password sign-in does not get around it: the lock is on the account's second step.
    right = second_step(login(user.email).json()["challenge"], code=code_at(secret, 1))
    assert right.status_code == 429
    assert AuthToken.objects.filter(user=user).count() == tokens_before


def test_the_second_step_is_throttled_per_ip(enrolled, settings):
    settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, "mfa_ip": "2/m"}
    user, _, _ = enrolled
    challenge = login(user.email).json()["challenge"]

    statuses = [second_step(challenge, code="000000").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


def test_disable_needs_the_password_and_a_current_code(enrolled, auth_client):
    user, secret, _ = enrolled

    without_code = auth_client.post(f"{API}/2fa/disable/", {"password": DEFAULT_PASSWORD}, format="json")
    without_password = auth_client.post(f"{API}/2fa/disable/", {"code": code_at(secret, 1)}, format="json")
    disabled = auth_client.post(
        f"{API}/2fa/disable/", {"password": DEFAULT_PASSWORD, "code": code_at(secret, 1)}, format="json"
    )

    assert without_code.json()["error"]["code"] == "invalid_mfa_code"
    assert without_password.json()["error"]["code"] == "reauthentication_required"
    assert disabled.status_code == 204
    assert login(user.email).status_code == 200  # a token straight away again
    assert not RecoveryCode.objects.filter(user=user).exists()


def test_new_recovery_codes_replace_the_old_ones(enrolled, auth_client):
    user, secret, old_codes = enrolled

    response = auth_client.post(
        f"{API}/2fa/recovery-codes/", {"password": DEFAULT_PASSWORD, "code": code_at(secret, 1)}, format="json"
    )

    assert response.status_code == 200
    new_codes = response.json()["recovery_codes"]
    assert second_step(login(user.email).json()["challenge"], recovery_code=old_codes[0]).status_code == 400
    assert second_step(login(user.email).json()["challenge"], recovery_code=new_codes[0]).status_code == 200


def test_enrolling_twice_is_a_conflict(enrolled, auth_client):
    response = auth_client.post(f"{API}/2fa/totp/", {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "mfa_already_enabled"


def test_google_sign_in_of_an_enrolled_account_needs_the_second_step(google, enrolled):
    user, secret, _ = enrolled
    SocialIdentityFactory(user=user, subject="sub-2fa")

    response = APIClient().post(f"{API}/login/google/", {"id_token": google.id_token(sub="sub-2fa")}, format="json")

    assert response.status_code == 202 and "token" not in response.json()
    assert second_step(response.json()["challenge"], code=code_at(secret, 1)).status_code == 200


def test_staff_can_be_required_to_enrol(settings, client):
    settings.AUTH_MFA_REQUIRED_FOR_STAFF = True
    staff = UserFactory(is_staff=True, is_superuser=True)
    token_client = APIClient()
    token_client.force_authenticate(staff)

    status = token_client.get(f"{API}/2fa/").json()
    refused = client.post(reverse("admin:login"), {"username": staff.email, "password": DEFAULT_PASSWORD})

    assert status == {
        "enabled": False,
        "confirmed_at": None,
        "recovery_codes_remaining": 0,
        "enrollment_required": True,
    }
    assert refused.status_code == 200  # the form again, with the reason
    assert b"must use two-factor sign-in" in refused.content
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_asks_enrolled_staff_for_their_code(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    token_client = APIClient()
    token_client.force_authenticate(staff)
    secret, _ = enrol(token_client)
    url = reverse("admin:login")

    without = client.post(url, {"username": staff.email, "password": DEFAULT_PASSWORD})
    with_code = client.post(
        url, {"username": staff.email, "password": DEFAULT_PASSWORD, "otp_code": code_at(secret, 1)}
    )

    assert without.status_code == 200 and b"valid authentication code" in without.content
    assert with_code.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


@pytest.mark.parametrize(
    ("language", "label"), [("de", "Authentifizierungscode"), ("fr", "Code d\u2019authentification")]
)
def test_the_admin_sign_in_field_is_translated(language, label):
    with translation.override(language):
        assert str(AdminLoginForm().fields["otp_code"].label) == label


def test_the_admin_sign_in_locks_out_code_guessing(client, settings):
    staff = UserFactory(is_staff=True, is_superuser=True)
    token_client = APIClient()
    token_client.force_authenticate(staff)
    secret, _ = enrol(token_client)
    url = reverse("admin:login")
    credentials = {"username": staff.email, "password": DEFAULT_PASSWORD}
    for _ in range(settings.AUTH_LOCKOUT_THRESHOLD):
        client.post(url, {**credentials, "otp_code": "000000"})

    right = client.post(url, {**credentials, "otp_code": code_at(secret, 1)})

    assert right.status_code == 200 and b"Too many wrong codes" in right.content
    assert "_auth_user_id" not in client.session
