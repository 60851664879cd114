"""Cache-backed rate limits and soft lockouts, shared by every app.

Counters live in Django's default cache: Redis in production (so every worker and
process sees the same counts), in-process memory in the embedded default. Keys are
hashed, so identifiers such as email addresses never appear in the cache in clear.

Two tools:

- `hit()` counts one event against a rate (e.g. "10 per hour per IP", a sliding-window
  estimate over two fixed windows) and says whether the caller is over the limit and
  for how long (`retry_after`, for the Retry-After header). On Redis one check is one
  round trip (a Lua script reads both windows, counts and un-counts atomically); on any
  other cache (the in-process default) it runs the same steps through the cache API.
  `give_back()` un-counts an allowed event whose caller was refused for another reason (a
  check made ahead of the others, in parallel with them).
- `Lockout` is a per-key soft lockout with exponential backoff: after `threshold`
  failures within `window` seconds the key is locked for `base` seconds, doubling with
  every further lockout (up to `maximum`); locks expire on their own. A success clears
  the failure count of that key only. `reserve()` counts an attempt before it is evaluated,
  so concurrent attempts cannot overrun the threshold.

The clock is `now()` in this module, so tests can move time with `unittest.mock.patch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def now() -> float:
    """Seconds since the epoch; patched in tests."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, rate: str) -> Rate:
        """`"10/m"`, `"100/h"`, `"5/15m"` (five per fifteen minutes), `"1000/d"`."""
        match = _RATE.match(rate)
        if not match:
            raise ValueError(f"Invalid rate {rate!r}; expected e.g. '10/m' or '5/15m'.")
        count, multiplier, unit = match.groups()
        return cls(limit=int(count), window=int(multiplier or 1) * _UNITS[unit])


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets (0 when allowed)
    counted: str | None = field(default=None, compare=False, repr=False)  # the window's key, when counted


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"rl:{parts[0]}:{digest}"


def _incr(key: str, timeout: int) -> int:
    """Atomic increment that creates the counter with a timeout (Redis INCR semantics)."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


def hit(scope: str, identifier: str, rate: Rate | str) -> Decision:
    """Count one event for (scope, identifier) and decide whether it is within `rate`.

    A sliding-window estimate: the current fixed window's count plus the previous window's
    count weighted by how much of it still overlaps the last `window` seconds. So a burst
    at a window boundary cannot get twice the limit through. A refused event is not counted.
    """
    rate = Rate.parse(rate) if isinstance(rate, str) else rate
    current = now()
    window_start = int(current // rate.window) * rate.window
    elapsed = current - window_start
    current_key = _key(scope, identifier, str(window_start))
    previous_key = _key(scope, identifier, str(window_start - rate.window))
    timeout = 2 * rate.window + 1  # the counter is read again as "previous" in the next window
    backend = caches["default"]  # `cache` is a proxy: the backend itself tells which store this is
    if isinstance(backend, RedisCache):
        allowed, count, previous = _hit_redis(
            backend, current_key, previous_key, rate=rate, elapsed=elapsed, timeout=timeout
        )
    else:
        allowed, count, previous = _hit_cache(current_key, previous_key, rate=rate, elapsed=elapsed, timeout=timeout)
    if allowed:
        return Decision(allowed=True, count=count, retry_after=0, counted=current_key)
    return Decision(allowed=False, count=count, retry_after=_retry_after(rate, elapsed, count - 1, previous))


def give_back(decision: Decision) -> None:
    """Un-count the event `decision` counted: its caller was refused for another reason before it acted.

    For a check made ahead of the others it races with (one round trip fewer in series); a
    refused event was never counted. Forgetting nothing else: a window that expired meanwhile
    holds nothing to give back.
    """
    if decision.allowed and decision.counted is not None:
        with contextlib.suppress(ValueError):  # expired meanwhile
            cache.decr(decision.counted)


def _allowed(rate: Rate, elapsed: float, count: int, previous: int) -> bool:
    return count + previous * (rate.window - elapsed) / rate.window <= rate.limit


def _hit_cache(
    current_key: str, previous_key: str, *, rate: Rate, elapsed: float, timeout: int
) -> tuple[bool, int, int]:
    """`hit()` through the cache API (any backend): (allowed, count incl. this event, previous window's count)."""
    count = _incr(current_key, timeout=timeout)
    previous = int(cache.get(previous_key) or 0)
    if _allowed(rate, elapsed, count, previous):
        return True, count, previous
    with contextlib.suppress(ValueError):  # ValueError: the key expired meanwhile
        cache.decr(current_key)
    return False, count, previous


# KEYS: current window, previous window. ARGV: timeout, limit, window, elapsed (seconds, may be
# fractional). The same arithmetic as `_allowed`; Lua numbers are doubles, like Python floats.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local window = tonumber(ARGV[3])
if count + previous * (window - tonumber(ARGV[4])) / window <= tonumber(ARGV[2]) then
  return {1, count, previous}
end
redis.call('DECR', KEYS[1])
return {0, count, previous}
"""


def _hit_redis(
    backend: RedisCache, current_key: str, previous_key: str, *, rate: Rate, elapsed: float, timeout: int
) -> tuple[bool, int, int]:
    """`hit()` in one Redis round trip, on the same keys and values the cache API reads and writes."""
    keys = [backend.make_and_validate_key(current_key), backend.make_and_validate_key(previous_key)]
    client = backend._cache.get_client(keys[0], write=True)
    global _script
    if _script is None:
        _script = client.register_script(_HIT_SCRIPT)
    # EVALSHA (EVAL once after a Redis restart or flush): one round trip.
    allowed, count, previous = _script(keys=keys, args=[timeout, rate.limit, rate.window, repr(elapsed)], client=client)
    return bool(allowed), int(count), int(previous)


_script: Any = None  # the registered `_HIT_SCRIPT` (it holds its SHA; any client of the cache can run it)


def _retry_after(rate: Rate, elapsed: float, counted: int, previous: int) -> int:
    """Seconds until one more event fits, if nothing else is counted meanwhile."""
    if counted + 1 > rate.limit:
        # The current window alone is full: wait for the next one, then for this window's
        # weight to drop until `limit - 1` earlier events remain in the estimate.
        overlap_allowed = (rate.limit - 1) / counted if counted else 1.0
        wait = (rate.window - elapsed) + rate.window * (1 - overlap_allowed)
    else:
        # The previous window's tail is what overflows: wait until enough of it slides out.
        overlap_allowed = (rate.limit - counted - 1) / previous
        wait = rate.window * (1 - overlap_allowed) - elapsed
    return max(1, math.ceil(wait))


def reset(scope: str, identifier: str, rate: Rate | str) -> None:
    """Forget the counts for (scope, identifier) in the current and previous windows."""
    rate = Rate.parse(rate) if isinstance(rate, str) else rate
    window_start = int(now() // rate.window) * rate.window
    cache.delete_many(
        [_key(scope, identifier, str(window_start)), _key(scope, identifier, str(window_start - rate.window))]
    )


@dataclass(frozen=True)
class Lockout:
    """A soft lockout policy for one scope (e.g. password login per account)."""

    scope: str
    threshold: int  # failures within `window` that trigger a lock
    window: int  # seconds a failure is remembered
    base: int  # seconds of the first lock
    maximum: int  # cap on one lock's length
    memory: int = 86400  # seconds the number of past locks is remembered (drives the backoff)

    def _keys(self, identifier: str) -> tuple[str, str]:
        return _key(self.scope, identifier, "locks"), _key(self.scope, identifier, "until")

    def _failures_key(self, identifier: str, generation: int | None = None) -> str:
        """The failure counter of the current lock generation (the number of locks so far).

        Each lock starts a new generation, so the failures that led to it are never counted
        again once it expires, and nothing has to delete them (a delete would race with the
        reservations in flight).
        """
        if generation is None:
            generation = int(cache.get(self._keys(identifier)[0]) or 0)
        return _key(self.scope, identifier, "failures", str(generation))

    def remaining(self, identifier: str) -> int:
        """Seconds the key stays locked (0 when it is not locked)."""
        until = cache.get(self._keys(identifier)[1])
        if until is None:
            return 0
        left = float(until) - now()
        return math.ceil(left) if left > 0 else 0

    def reserve(self, identifier: str) -> int:
        """Take one attempt from the budget *before* it is evaluated; 0 = go ahead, else seconds locked.

        The attempt counts as a failure from this moment (a success clears the count): so a
        burst of parallel attempts, each reserving before its password hash runs, can never
        get more than `threshold` of them evaluated; the first one past the budget locks the
        key and it and every later one are refused unevaluated.
        """
        remaining = self.remaining(identifier)
        if remaining:
            return remaining
        attempts = _incr(self._failures_key(identifier), timeout=self.window)
        if attempts <= self.threshold:
            # A racer may have locked the key between the check above and the generation read
            # (the lock is written before its new generation starts): this attempt is refused then.
            return self.remaining(identifier)
        return self._lock(identifier)

    def register_failure(self, identifier: str, *, reserved: bool = False) -> int:
        """Count a failure; returns the length in seconds of the lock it triggered (or that holds), else 0.

        `reserved`: the attempt was already counted by `reserve()`.
        """
        failures_key = self._failures_key(identifier)
        failures = int(cache.get(failures_key) or 0) if reserved else _incr(failures_key, timeout=self.window)
        if failures < self.threshold:
            return self.remaining(identifier) if reserved else 0
        return self._lock(identifier)

    def _lock(self, identifier: str) -> int:
        """Lock the key (once, however many callers race here); the lock's remaining seconds."""
        locks_key, until_key = self._keys(identifier)
        remaining = self.remaining(identifier)
        if remaining:
            return remaining
        locks = int(cache.get(locks_key) or 0)
        duration = min(self.maximum, self.base * 2 ** min(locks, 32))
        # One winner per lock generation: the racers that lose return the winner's lock.
        if not cache.add(f"{until_key}:{locks}", 1, timeout=self.memory):
            return self.remaining(identifier) or duration
        cache.set(until_key, now() + duration, timeout=duration + 1)
        _incr(locks_key, timeout=self.memory)  # a new generation: a fresh failure count after the lock
        return duration

    def clear(self, identifier: str, *, forget_history: bool = False) -> None:
        """Clear failures and any current lock (a success, a password reset, an admin unlock)."""
        locks_key, until_key = self._keys(identifier)
        locks = int(cache.get(locks_key) or 0)
        keys = [self._failures_key(identifier, locks), until_key]
        if forget_history:
            keys += [locks_key]
            keys += [self._failures_key(identifier, generation) for generation in range(locks)]
            keys += [f"{until_key}:{generation}" for generation in range(locks + 1)]
        cache.delete_many(keys)
