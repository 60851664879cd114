"""The Redis cache backend keeps one connection pool per process: requests reuse connections."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from backend.redis_cache import SharedPoolRedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    return settings.CACHES["default"]["LOCATION"]


def test_cache_objects_of_separate_requests_share_one_pool(redis_url):
    # Django creates one cache object per request context (`caches` is context-local under ASGI).
    first, second = caches.create_connection("default"), caches.create_connection("default")
    first.set("pool-test", "value", 30)

    assert isinstance(first, SharedPoolRedisCache) and first is not second
    assert second.get("pool-test") == "value"
    pool = first._cache._get_connection_pool(True)
    assert second._cache._get_connection_pool(True) is pool


def test_another_server_gets_its_own_pool(redis_url):
    here = SharedPoolRedisCache(redis_url, {})
    elsewhere = SharedPoolRedisCache(redis_url.rsplit("/", 1)[0] + "/0", {})

    assert here._cache._get_connection_pool(True) is not elsewhere._cache._get_connection_pool(True)
    assert here._cache._get_connection_pool(True) is SharedPoolRedisCache(redis_url, {})._cache._get_connection_pool(
        True
    )
