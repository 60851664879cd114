"""The Redis cache backend reuses one client per pool, and is Django's backend otherwise."""

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
