"""Tokens and sessions through the API: refresh, expiry, listing, revocation, logout, CSRF."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from appauth.models import AuthEvent, AuthToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"
AUTH = "/api/v1/auth"


def _body(response):
    return response.json()


def test_a_token_with_one_character_flipped_is_refused(user, login_token):
    token = login_token(user)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")

    response = APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {flipped}")

    assert response.status_code == 401
    assert _body(response)["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token " + "x" * 300, "Token \u00e9\u00e9\u00e9", "Token aia_short"],
)
def test_malformed_authorization_headers_are_401_not_500(header):
    response = APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))

    assert response.status_code == 401
    assert "error" in _body(response)


def test_an_expired_token_is_refused_and_deleted(user, login_token):
    token = login_token(user)
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))

    response = APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_auto_refresh_never_passes_the_maximum_lifetime(user, login_token, settings):
    token = login_token(user)
    row = AuthToken.objects.get(user=user)
    max_lifetime = timedelta(days=settings.AUTH_TOKEN_MAX_LIFETIME_DAYS)
    # Pretend the token was issued almost a maximum lifetime ago and kept in use.
    AuthToken.objects.filter(pk=row.pk).update(
        created=timezone.now() - max_lifetime + timedelta(hours=1), expiry=timezone.now() + timedelta(minutes=5)
    )

    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200

    row.refresh_from_db()
    assert row.expiry <= row.created + max_lifetime
    assert row.expiry > timezone.now() + timedelta(minutes=30)  # refreshed, but only up to the cap


def test_use_of_a_token_refreshes_it_and_records_last_use(user, login_token):
    token = login_token(user)
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() + timedelta(hours=1))

    APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {token}")

    row = AuthToken.objects.get(user=user)
    assert row.last_used_at is not None
    assert row.expiry > timezone.now() + timedelta(hours=2)


def test_token_list_shows_my_devices_and_marks_the_current_one(user, login_token, django_assert_num_queries):
    current = login_token(user, device_name="laptop")
    login_token(user, device_name="phone")
    login_token(UserFactory(), device_name="someone else")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {current}")
    client.get(f"{AUTH}/tokens/")  # first use writes last_used_at

    with django_assert_num_queries(1):  # the list (the token was authenticated from the cache)
        response = client.get(f"{AUTH}/tokens/")

    assert response.status_code == 200
    rows = _body(response)
    assert sorted(r["device_name"] for r in rows) == ["laptop", "phone"]
    assert [r["current"] for r in rows if r["device_name"] == "laptop"] == [True]
    assert set(rows[0]) == {
        "id",
        "device_name",
        "ip_address",
        "user_agent",
        "created",
        "last_used_at",
        "expiry",
        "current",
    }


def test_token_list_query_count_does_not_grow_with_tokens(user, login_token, django_assert_num_queries):
    current = login_token(user)
    for _ in range(10):
        login_token(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {current}")
    client.get(f"{AUTH}/tokens/")

    with django_assert_num_queries(1):  # the list (the token was authenticated from the cache)
        client.get(f"{AUTH}/tokens/")


def test_revoke_one_of_my_tokens(user, login_token, auth_client):
    other = login_token(user, device_name="old phone")
    other_id = AuthToken.objects.get(device_name="old phone").pk

    response = auth_client.delete(f"{AUTH}/tokens/{other_id}/")

    assert response.status_code == 204
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 401
    assert auth_client.get(f"{AUTH}/profile/").status_code == 200
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.TOKEN_REVOKED, user=user).exists()


def test_another_users_tokens_are_invisible_and_unrevokable(auth_client, login_token):
    bob = UserFactory()
    login_token(bob)
    bobs_id = AuthToken.objects.get(user=bob).pk

    assert all(r["id"] != str(bobs_id) for r in _body(auth_client.get(f"{AUTH}/tokens/")))
    response = auth_client.delete(f"{AUTH}/tokens/{bobs_id}/")

    assert response.status_code == 404
    assert _body(response)["error"]["code"] == "not_found"
    assert AuthToken.objects.filter(pk=bobs_id).exists()


def test_revoking_a_malformed_token_id_is_404(auth_client):
    assert auth_client.delete(f"{AUTH}/tokens/not-a-uuid/").status_code == 404


def test_logout_revokes_only_this_token(user, login_token, auth_client):
    other = login_token(user)

    assert auth_client.post(f"{AUTH}/logout/").status_code == 204

    assert auth_client.get(f"{AUTH}/profile/").status_code == 401
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 200


def test_logout_all_revokes_every_token(user, login_token, auth_client):
    other = login_token(user)

    assert auth_client.post(f"{AUTH}/logout-all/").status_code == 204

    assert auth_client.get(f"{AUTH}/profile/").status_code == 401
    assert APIClient().get(f"{AUTH}/profile/", HTTP_AUTHORIZATION=f"Token {other}").status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_a_bad_token_never_falls_back_to_a_session(user):
    client = APIClient()
    client.force_login(user)

    response = client.get(f"{AUTH}/profile/", HTTP_AUTHORIZATION="Token aia_0000000000000000000000")

    assert response.status_code == 401


def test_session_authentication_enforces_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.get(f"{AUTH}/profile/").status_code == 200
    response = client.patch(f"{AUTH}/profile/", {"first_name": "Eve"}, format="json")

    assert response.status_code == 403
    user.refresh_from_db()
    assert user.first_name == "Ada"


def test_endpoints_that_need_a_login_answer_401(api_client):
    for method, path in [
        ("get", "profile/"),
        ("patch", "profile/"),
        ("post", "logout/"),
        ("post", "logout-all/"),
        ("post", "password/change/"),
        ("get", "tokens/"),
        ("delete", "account/"),
    ]:
        response = getattr(api_client, method)(f"{AUTH}/{path}")
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"]


def test_logout_all_ends_browser_sessions_too(user, login_token):
    browser = APIClient()
    browser.force_login(user)
    assert browser.get(f"{AUTH}/profile/").status_code == 200
    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {login_token(user)}")

    assert phone.post(f"{AUTH}/logout-all/").status_code == 204

    assert browser.get(f"{AUTH}/profile/").status_code == 401


def test_logout_of_a_browser_session_ends_it(user):
    browser = APIClient()
    browser.force_login(user)

    assert browser.post(f"{AUTH}/logout/").status_code == 204

    assert browser.get(f"{AUTH}/profile/").status_code == 401
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGOUT, user=user).exists()
