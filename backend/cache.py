"""Django's Redis cache backend, with one Redis client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call,
and each one fills its table of ~170 response callbacks: about a tenth of a millisecond of CPU
per call, several times per request (token, rate limit, page). A client is thread-safe (every
command takes a connection from the pool), so one per pool is reused. Everything else is
Django's backend unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import redis as django_redis


class _ReusingClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
