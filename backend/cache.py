"""Django's Redis cache backend with one connection pool and one Redis client per process.

Two costs of Django's backend on the hot paths (token, rate limit, page, liveness keys):

- Django keeps cache objects per async context, so under ASGI every request gets a new
  `RedisCache` and with it a new redis-py connection pool: each request that touched the cache
  opened a TCP connection to Redis and dropped it afterwards.
- `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call, and each
  one fills its table of ~170 response callbacks: about a tenth of a millisecond of CPU per call.

redis-py pools and clients are thread-safe (every command takes a connection from the pool) and
pools reset themselves in a forked child, so one pool per server URL and options, and one client
per pool, serve every request and thread of the process. Everything else is Django's backend.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends import redis as django_redis

_pools: dict[tuple[str, str], Any] = {}
_clients: dict[int, Any] = {}
_lock = threading.Lock()


class _SharedClient(django_redis.RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        url = self._servers[self._get_connection_pool_index(write)]  # type: ignore[attr-defined]
        key = (url, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))  # type: ignore[attr-defined]
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(url, **self._pool_options)  # type: ignore[attr-defined]
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _lock:
                client = _clients.get(id(pool))
                if client is None:
                    client = _clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose pool and client outlive the request."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClient
