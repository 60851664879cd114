"""The Redis cache backend keeps one pool and one client per process, and is Django's backend otherwise."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from backend.cache import RedisCache

pytestmark = pytest.mark.redis


def test_one_client_serves_every_call_and_values_round_trip(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    backend = caches["default"]
    assert isinstance(backend, RedisCache)

    backend.set("reuse", {"a": 1}, timeout=10)
    backend.add("counter", 1, timeout=10)
    backend.incr("counter")

    assert backend.get("reuse") == {"a": 1}
    assert backend.get("counter") == 2
    assert backend._cache.get_client("x", write=True) is backend._cache.get_client("y", write=True)


@pytest.fixture
def redis_url(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    return settings.CACHES["default"]["LOCATION"]


def test_cache_objects_of_separate_requests_share_one_pool(redis_url):
    # Django creates one cache object per request context (`caches` is context-local under ASGI).
    first, second = caches.create_connection("default"), caches.create_connection("default")
    first.set("pool-test", "value", 30)

    assert isinstance(first, RedisCache) and first is not second
    assert second.get("pool-test") == "value"
    pool = first._cache._get_connection_pool(True)
    assert second._cache._get_connection_pool(True) is pool


def test_another_server_gets_its_own_pool(redis_url):
    here = RedisCache(redis_url, {})
    elsewhere = RedisCache(redis_url.rsplit("/", 1)[0] + "/0", {})

    assert here._cache._get_connection_pool(True) is not elsewhere._cache._get_connection_pool(True)
    assert here._cache._get_connection_pool(True) is RedisCache(redis_url, {})._cache._get_connection_pool(True)
