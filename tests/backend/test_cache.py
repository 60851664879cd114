"""The Redis cache backend keeps one pool and one client per process, and is Django's backend otherwise."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from backend.cache import RedisCache, aclose_async_clients

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


async def test_async_reads_go_through_the_event_loops_own_client_not_a_thread(redis_url, monkeypatch):
    backend = RedisCache(redis_url, {"OPTIONS": {"socket_timeout": 2}})
    backend.set("async-dict", {"a": [1, 2]}, 30)
    backend.set("async-int", 7, 30)

    def no_sync_reads(*args, **kwargs):
        raise AssertionError("read through the sync client")

    monkeypatch.setattr(RedisCache, "get", no_sync_reads)
    monkeypatch.setattr(RedisCache, "get_many", no_sync_reads)
    try:
        assert await backend.aget("async-dict") == {"a": [1, 2]}
        assert await backend.aget("async-int") == 7
        assert await backend.aget("async-missing", "fallback") == "fallback"
        assert await backend.aget_many(["async-int", "async-missing", "async-dict"]) == {
            "async-int": 7,
            "async-dict": {"a": [1, 2]},
        }
        assert await backend.aget_many([]) == {}
        client = backend._async_client()
        assert client is RedisCache(redis_url, {"OPTIONS": {"socket_timeout": 2}})._async_client()
    finally:
        await aclose_async_clients()  # the shutdown hook
        backend.delete_many(["async-dict", "async-int"])
    assert backend._async_client() is not client
    await aclose_async_clients()


def test_each_event_loop_gets_its_own_async_client(redis_url):
    import asyncio

    backend = RedisCache(redis_url, {})
    backend.set("async-loop", "value", 30)

    async def read():
        client = backend._async_client()
        try:
            return await backend.aget("async-loop"), client
        finally:
            await client.aclose()

    (first, first_client), (second, second_client) = asyncio.run(read()), asyncio.run(read())
    backend.delete("async-loop")
    assert first == second == "value"
    assert first_client is not second_client
