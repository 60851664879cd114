"""The token → user cache: most requests authenticate without SQL, and no revoked token works again."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from rest_framework.test import APIClient

from appauth import token_cache
from appauth.models import AuthToken
from appauth.services.audit import ClientInfo
from appauth.services.tokens import token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="tests")
PROFILE = "/api/v1/auth/profile/"


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def warm() -> tuple[object, AuthToken, str, APIClient]:
    """A user whose token was just used, so its (user, token) pair sits in the cache."""
    user = UserFactory()
    instance, token = token_create(user=user, client=CLIENT)
    client = _client(token)
    assert client.get(PROFILE).status_code == 200
    assert token_cache.lookup(instance.digest) is not None
    return user, instance, token, client


def test_a_cached_token_authenticates_without_sql(warm, django_assert_num_queries):
    _, _, _, client = warm
    with django_assert_num_queries(1) as queries:  # the chat list itself, nothing for the token
        assert client.get("/api/v1/chat/chats/").status_code == 200
    assert "appauth_authtoken" not in queries.captured_queries[0]["sql"]


def test_logout_refuses_the_token_on_the_very_next_request(warm):
    _, instance, token, client = warm
    assert client.post("/api/v1/auth/logout/").status_code == 204

    assert _client(token).get(PROFILE).status_code == 401
    assert token_cache.lookup(instance.digest) is None


def test_logout_all_from_another_client_refuses_every_cached_token(warm):
    user, _, token, _ = warm
    _, second = token_create(user=user, client=CLIENT)
    other_device = _client(second)
    assert other_device.get(PROFILE).status_code == 200  # cached as well

    assert other_device.post("/api/v1/auth/logout-all/").status_code == 204

    assert _client(token).get(PROFILE).status_code == 401
    assert other_device.get(PROFILE).status_code == 401


@pytest.mark.redis
def test_the_revocation_is_in_the_shared_cache_for_every_process(warm, settings):
    """Another process reads the same Redis: a fresh handle (no state of this process) sees the marker."""
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("REDIS_URL is not set")
    _, instance, _, client = warm
    location, prefix = settings.CACHES["default"]["LOCATION"], settings.CACHES["default"]["KEY_PREFIX"]
    other_process = RedisCache(location, {"KEY_PREFIX": prefix})
    entry_key, revoked_key = token_cache._keys(instance.digest)
    assert other_process.get(entry_key) is not None

    client.post("/api/v1/auth/logout/")

    assert other_process.get(entry_key) is None
    assert other_process.get(revoked_key) == 1


def test_revoking_one_token_refuses_it_at_once(warm):
    user, instance, token, _ = warm
    _, keeper = token_create(user=user, client=CLIENT)

    assert _client(keeper).delete(f"/api/v1/auth/tokens/{instance.pk}/").status_code == 204

    assert _client(token).get(PROFILE).status_code == 401
    assert _client(keeper).get(PROFILE).status_code == 200


def test_deactivating_the_user_refuses_a_cached_token(warm):
    user, _, token, _ = warm
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert _client(token).get(PROFILE).status_code == 401


def test_deleting_the_user_refuses_a_cached_token(warm):
    user, _, token, _ = warm
    user.delete()

    assert _client(token).get(PROFILE).status_code == 401


def test_a_cached_token_past_its_expiry_is_refused_and_deleted(warm):
    _, instance, token, _ = warm
    later = instance.expiry + timedelta(seconds=1)

    with mock.patch("django.utils.timezone.now", return_value=later):
        assert _client(token).get(PROFILE).status_code == 401

    assert not AuthToken.objects.filter(pk=instance.pk).exists()


def test_an_entry_written_after_the_revocation_is_not_trusted(warm):
    """A request that read the token before the revocation may store it afterwards: it stays refused."""
    _, instance, token, client = warm
    stale_user, stale_token = token_cache.lookup(instance.digest)  # what that request read
    client.post("/api/v1/auth/logout/")

    token_cache.store(stale_user, stale_token)

    assert token_cache.lookup(instance.digest) is None
    assert _client(token).get(PROFILE).status_code == 401


def test_the_sliding_refresh_still_reaches_the_database(warm):
    """A cached token due for knox's expiry refresh takes the database path, which writes it."""
    _, instance, token, _ = warm
    later = timezone.now() + timedelta(minutes=5)

    with mock.patch("django.utils.timezone.now", return_value=later):
        assert _client(token).get(PROFILE).status_code == 200

    instance.refresh_from_db()
    assert instance.expiry > later + timedelta(hours=1)
    assert instance.last_used_at == later


def test_with_the_cache_off_every_request_looks_the_token_up(settings, django_assert_num_queries):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0
    user = UserFactory()
    _, token = token_create(user=user, client=CLIENT)
    client = _client(token)
    client.get(PROFILE)

    with django_assert_num_queries(1):
        assert client.get(PROFILE).status_code == 200


def test_the_cache_holds_no_password_hash_and_a_password_change_still_checks_it(settings):
    user = UserFactory(password="an old passphrase here")
    instance, token = token_create(user=user, client=CLIENT)
    client = _client(token)
    assert client.get(PROFILE).status_code == 200
    entry = caches["default"].get(token_cache._keys(instance.digest)[0])
    assert "password" not in entry[0].__dict__

    wrong = client.post(
        "/api/v1/auth/password/change/",
        {"current_password": "not it", "new_password": "a brand new passphrase"},
        format="json",
    )
    right = client.post(
        "/api/v1/auth/password/change/",
        {"current_password": "an old passphrase here", "new_password": "a brand new passphrase"},
        format="json",
    )

    assert (wrong.status_code, right.status_code) == (400, 200)
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase")


# --- the process-local memo of the hottest reads (`TokenAuthentication.memoized`) -------------------


def test_a_verified_token_is_memoized_with_the_guard_of_its_row_and_no_password(warm):
    from appauth.authentication import TokenAuthentication

    user, instance, token, _ = warm
    instance.refresh_from_db()  # as the request that verified it left it (last_used_at touched)
    authentication = TokenAuthentication()
    assert authentication.memoized(token.encode()) is None  # only the fast reads remember a pair
    TokenAuthentication.remember(user, instance)

    memoized_user, guard = authentication.memoized(token.encode())
    assert memoized_user.pk == user.pk and "password" not in memoized_user.__dict__
    assert guard.params == {"auth_digest": instance.digest, "auth_user": user.pk}
    assert authentication.memoized(b"another token") is None
    assert authentication.memoized(b"\xff\xfe") is None  # undecodable: the whole path refuses it


def test_a_memoized_token_lives_the_cache_lifetime_and_no_longer(warm, settings):
    from appauth.authentication import TokenAuthentication

    user, instance, token, _ = warm
    settings.AUTH_TOKEN_CACHE_SECONDS = 30
    instance.refresh_from_db()
    TokenAuthentication.remember(user, instance)
    now = token_cache.time.monotonic()
    with mock.patch.object(token_cache.time, "monotonic", return_value=now + 29):
        assert TokenAuthentication().memoized(token.encode()) is not None
    with mock.patch.object(token_cache.time, "monotonic", return_value=now + 31):
        assert TokenAuthentication().memoized(token.encode()) is None


def test_a_memoized_token_due_for_its_touch_or_revoked_here_is_not_trusted(warm):
    from appauth.authentication import TokenAuthentication

    user, instance, token, client = warm
    instance.refresh_from_db()
    TokenAuthentication.remember(user, instance)
    later = timezone.now() + timedelta(minutes=5)  # the last_used_at touch is due
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert TokenAuthentication().memoized(token.encode()) is None

    assert TokenAuthentication().memoized(token.encode()) is not None
    assert client.post("/api/v1/auth/logout/").status_code == 204  # this process drops it at once
    assert TokenAuthentication().memoized(token.encode()) is None


def test_the_guard_holds_only_while_the_token_row_and_an_active_user_exist(warm):
    from django.db import connection

    user, instance, _, _ = warm
    guard = token_cache.guard(instance)

    def holds() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {guard.sql}", guard.params)
            return bool(cursor.fetchone()[0])

    assert holds()
    type(user).objects.filter(pk=user.pk).update(is_active=False)  # as another process would, no signals here
    assert not holds()
    type(user).objects.filter(pk=user.pk).update(is_active=True)
    assert holds()
    AuthToken.objects.filter(pk=instance.pk).delete()
    assert not holds()


def test_the_memo_is_bounded_oldest_first(warm, monkeypatch):
    user = warm[0]
    monkeypatch.setattr(token_cache, "_MEMO_SIZE", 3)
    monkeypatch.setattr(token_cache, "_memo", {})
    tokens = [token_create(user=user, client=CLIENT)[0] for _ in range(4)]
    for each in tokens:
        token_cache.memo_put(user, each)
    assert list(token_cache._memo) == [each.digest for each in tokens[1:]]
