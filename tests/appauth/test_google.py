"""Google sign-in through the API, verified against local keys (tests/appauth/google_keys.py)."""

import time

import pytest
from rest_framework.test import APIClient

from appauth.models import AppUser, AuthToken, SocialIdentity
from appauth.services.login import login_lockout
from tests.appauth.factories import SocialIdentityFactory
from tests.appauth.google_keys import FOREIGN_CLIENT_ID, IOS_CLIENT_ID, SigningKey
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/login/google/"


def _post(id_token, **extra):
    return APIClient(REMOTE_ADDR="203.0.113.7").post(URL, {"id_token": id_token, **extra}, format="json")


def test_first_sign_in_creates_a_verified_account_keyed_by_sub(google):
    response = _post(google.id_token(sub="sub-1", email="New.Person@Example.com"), device_name="iPhone")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry", "user"}
    user = AppUser.objects.get(email="new.person@example.com")
    assert user.email_verified and not user.has_usable_password()
    assert (user.first_name, user.last_name) == ("Grace", "Hopper")
    assert SocialIdentity.objects.get(user=user).subject == "sub-1"
    assert AuthToken.objects.get(user=user).device_name == "iPhone"


def test_later_sign_ins_find_the_account_by_sub_even_if_the_email_changed(google):
    _post(google.id_token(sub="sub-1", email="first@example.com"))

    response = _post(google.id_token(sub="sub-1", email="renamed@example.com"))

    assert response.json()["user"]["email"] == "first@example.com"
    assert AppUser.objects.count() == 1


def test_ios_and_web_client_ids_are_both_accepted(google):
    assert _post(google.id_token(aud=IOS_CLIENT_ID)).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": FOREIGN_CLIENT_ID}, id="token-for-another-app"),
        pytest.param({"iss": "https://accounts.example.com"}, id="wrong-issuer"),
        pytest.param({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4000}, id="expired"),
    ],
)
def test_bad_claims_are_refused_without_creating_anyone(google, claims):
    response = _post(google.id_token(**claims))

    assert_error(response, 400, "invalid_google_token")
    assert not AppUser.objects.exists()


def test_a_bad_signature_is_refused(google):
    response = _post(google.id_token(key=SigningKey(), headers={"kid": google.key.kid}))

    assert response.json()["error"]["code"] == "invalid_google_token"


def test_an_unverified_google_email_matching_a_local_account_is_not_linked(google):
    local = UserFactory(email="victim@example.com")

    response = _post(google.id_token(sub="attacker", email="victim@example.com", email_verified=False))

    assert_error(response, 400, "google_email_unverified")
    assert not SocialIdentity.objects.exists()
    assert not AuthToken.objects.filter(user=local).exists()


def test_an_unverified_google_email_creates_no_account(google):
    response = _post(google.id_token(email="nobody@example.com", email_verified=False))

    assert response.status_code == 400
    assert not AppUser.objects.exists()


def test_a_verified_google_email_links_to_the_verified_local_account(google):
    local = UserFactory(email="ada@example.com", email_verified=True)

    response = _post(google.id_token(sub="ada-sub", email="ada@example.com"))

    assert response.json()["user"]["id"] == str(local.pk)
    local.refresh_from_db()
    assert local.check_password(DEFAULT_PASSWORD)  # a verified owner keeps their password


def test_linking_to_an_unproven_local_account_evicts_its_password_and_tokens(google, login_token):
    """Someone pre-registered the address without owning it: they lose access."""
    squatter = UserFactory(email="owner@example.com", email_verified=False)
    login_token(squatter)

    response = _post(google.id_token(sub="owner-sub", email="owner@example.com"))

    assert response.status_code == 200
    squatter.refresh_from_db()
    assert not squatter.has_usable_password()
    assert squatter.email_verified
    assert AuthToken.objects.filter(user=squatter).count() == 1  # only the new Google login


def test_the_same_email_under_another_sub_cannot_reach_a_linked_account(google):
    identity = SocialIdentityFactory(subject="original-sub", user__email="linked@example.com")

    response = _post(google.id_token(sub="another-sub", email="linked@example.com"))

    assert_error(response, 409, "google_account_conflict")
    assert not AuthToken.objects.filter(user=identity.user).exists()


def test_a_locked_account_can_still_sign_in_with_google(google, settings):
    identity = SocialIdentityFactory(subject="locked-sub")
    lockout = login_lockout()
    for _ in range(settings.AUTH_LOCKOUT_THRESHOLD):
        lockout.register_failure(identity.user.email)
    assert lockout.remaining(identity.user.email)

    assert _post(google.id_token(sub="locked-sub")).status_code == 200


def test_an_inactive_linked_user_gets_the_generic_error(google):
    SocialIdentityFactory(subject="gone-sub", user__is_active=False)

    response = _post(google.id_token(sub="gone-sub"))

    assert response.json()["error"]["code"] == "invalid_credentials"


def test_google_outage_is_a_503_and_creates_nobody(google):
    google.status = 503

    response = _post(google.id_token())

    assert_error(response, 503, "google_unavailable")
    assert not AppUser.objects.exists()


def test_the_token_is_only_read_from_the_body_never_the_query_string(google):
    response = APIClient().post(f"{URL}?id_token={google.id_token()}", {}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"id_token": ["This field is required."]}


def test_a_google_only_account_deletes_itself_with_a_fresh_id_token(google):
    login = _post(google.id_token(sub="del-sub")).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {login['token']}")

    refused = client.delete("/api/v1/auth/account/", {"id_token": google.id_token(sub="someone-else")}, format="json")
    assert refused.json()["error"]["code"] == "reauthentication_required"

    response = client.delete("/api/v1/auth/account/", {"id_token": google.id_token(sub="del-sub")}, format="json")

    assert response.status_code == 204
    assert not AppUser.objects.exists()
    assert not SocialIdentity.objects.exists()


def test_a_token_without_an_email_cannot_create_an_account(google):
    response = _post(google.id_token(email=None, email_verified=None))

    assert response.json()["error"]["code"] == "google_email_missing"
    assert not AppUser.objects.exists()


def test_a_google_only_account_needs_an_id_token_to_delete_itself(google):
    login = _post(google.id_token(sub="keep-sub")).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {login['token']}")

    response = client.delete("/api/v1/auth/account/", {"password": "anything"}, format="json")

    assert response.json()["error"]["code"] == "reauthentication_required"
    assert AppUser.objects.exists()
