"""Django's Redis cache backend with one connection pool and one Redis client per process.

Two costs of Django's backend on the hot paths (token, rate limit, page, liveness keys):

- Django keeps cache objects per async context, so under ASGI every request gets a new
  `RedisCache` and with it a new redis-py connection pool: each request that touched the cache
  opened a TCP connection to Redis and dropped it afterwards.
- `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call, and each
  one fills its table of ~170 response callbacks: about a tenth of a millisecond of CPU per call.

redis-py pools and clients are thread-safe (every command takes a connection from the pool) and
pools reset themselves in a forked child, so one pool per server URL and options, and one client
per pool, serve every request and thread of the process.

A third: Django's async cache methods run the sync ones on a thread (`sync_to_async`), which
costs a thread hop and a new cache object per call. `aget` and `aget_many` here read through an
asyncio redis-py client of the running event loop instead (one per loop and server, with the
same socket options). Everything else is Django's backend.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends import redis as django_redis

_pools: dict[tuple[str, str], Any] = {}
_clients: dict[int, Any] = {}
_lock = threading.Lock()
# The asyncio clients, per event loop and (server, options): a redis-py asyncio connection belongs to
# the loop that opened it. A loop's clients go with it.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Any]] = (
    weakref.WeakKeyDictionary()
)
# Options of the cache that are not the asyncio client's to take (classes of the sync client).
_SYNC_ONLY_OPTIONS = frozenset({"serializer", "pool_class", "parser_class"})


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

    def _async_client(self) -> Any:
        """The running loop's asyncio client of the first server (where this cache writes)."""
        import redis.asyncio as aioredis

        url = self._servers[0]  # type: ignore[attr-defined]
        options = {name: value for name, value in self._options.items() if name not in _SYNC_ONLY_OPTIONS}  # type: ignore[attr-defined]
        key = (url, repr(sorted(options.items())))
        clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
        client = clients.get(key)
        if client is None:
            client = clients[key] = aioredis.Redis.from_url(url, **options)
        return client

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        value = await self._async_client().get(self.make_and_validate_key(key, version=version))
        return default if value is None else self._cache._serializer.loads(value)  # type: ignore[attr-defined]

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        names = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not names:
            return {}
        values = await self._async_client().mget(list(names))
        return {
            names[name]: self._cache._serializer.loads(value)  # type: ignore[attr-defined]
            for name, value in zip(names, values, strict=True)
            if value is not None
        }


async def aclose_async_clients() -> None:
    """Close the running loop's asyncio clients (an ASGI shutdown hook)."""
    for client in _async_clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()
