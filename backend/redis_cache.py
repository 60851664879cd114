"""Django's Redis cache backend with one connection pool per process, not one per request.

Django keeps cache objects per async context, so under ASGI every request gets a new
`RedisCache`, and with it a new redis-py connection pool: each request that touched the cache
(rate limits, model cooldowns, liveness keys) opened a TCP connection to Redis and dropped it
afterwards. redis-py pools are thread-safe and reset themselves in a forked child, so one pool
per server URL and options is shared by every request and thread of the process.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        client: Any = self  # Django's client attributes are not in its stubs
        url = client._servers[client._get_connection_pool_index(write)]
        key = (url, repr(sorted(client._pool_options.items(), key=lambda item: item[0])))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = client._pool_class.from_url(url, **client._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose connections outlive the request."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
