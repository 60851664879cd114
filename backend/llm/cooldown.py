"""Short, shared cooldowns for models that throttle or are unavailable.

Stored in the Django cache (Redis in production), so a model that throttled one worker is
skipped by every web process and Celery worker until the cooldown ends. Cooldowns are
advisory: when every model of a chain is cooling down, the chain is tried anyway.

A process-local snapshot of what the cache said is reused for `LOCAL_TTL` seconds, so a
burst of calls costs one cache round trip instead of one each. Another process's cooldown
is therefore seen at most `LOCAL_TTL` late; this process's own cooldowns are seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "llm:cooldown:"
LOCAL_TTL = 0.5

# chain of model ids -> (monotonic time fetched, {model id: cooldown end as epoch seconds})
_snapshot: dict[tuple[str, ...], tuple[float, dict[str, float]]] = {}
_snapshot_lock = threading.Lock()


def _key(model_id: str) -> str:
    return f"{_PREFIX}{model_id}"


def _fresh_snapshot(model_ids: tuple[str, ...]) -> dict[str, float] | None:
    entry = _snapshot.get(model_ids)
    if entry is not None and time.monotonic() - entry[0] < LOCAL_TTL:
        return entry[1]
    return None


def _fetch(model_ids: tuple[str, ...]) -> dict[str, float]:
    try:
        found = cache.get_many([_key(model_id) for model_id in model_ids])
    except Exception:  # the cache is an optimisation here, never a reason to fail a call
        logger.warning("LLM cooldown lookup failed; trying every model", exc_info=True)
        found = {}
    until = {key.removeprefix(_PREFIX): float(value) for key, value in found.items()}
    with _snapshot_lock:
        _snapshot[model_ids] = (time.monotonic(), until)
    return until


def _cooling(until: dict[str, float]) -> set[str]:
    now = time.time()
    return {model_id for model_id, end in until.items() if end > now}


def cooling_models(model_ids: list[str]) -> set[str]:
    """The subset of `model_ids` currently cooling down. A cache outage means no cooldowns."""
    key = tuple(model_ids)
    until = _fresh_snapshot(key)
    return _cooling(until if until is not None else _fetch(key))


# In-flight fetches per event loop and chain: a burst of calls waits for one round trip.
_inflight: dict[tuple[asyncio.AbstractEventLoop, tuple[str, ...]], asyncio.Future[dict[str, float]]] = {}


async def acooling_models(model_ids: list[str]) -> set[str]:
    """Async `cooling_models`: the cache round trip, when one is due, runs off the event loop."""
    key = tuple(model_ids)
    until = _fresh_snapshot(key)
    if until is not None:
        return _cooling(until)
    flight_key = (asyncio.get_running_loop(), key)
    pending = _inflight.get(flight_key)
    if pending is not None:
        return _cooling(await asyncio.shield(pending))
    future: asyncio.Future[dict[str, float]] = asyncio.get_running_loop().create_future()
    _inflight[flight_key] = future
    try:
        until = await sync_to_async(_fetch, thread_sensitive=False)(key)
        future.set_result(until)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
        raise
    finally:
        _inflight.pop(flight_key, None)
    return _cooling(until)


def start_cooldown(model_id: str, seconds: float, *, reason: str) -> None:
    """Park `model_id` for `seconds`, for every process sharing the cache."""
    if seconds <= 0:
        return
    until = time.time() + seconds
    with _snapshot_lock:
        for model_ids, (fetched_at, known) in list(_snapshot.items()):
            if model_id in model_ids:
                _snapshot[model_ids] = (fetched_at, {**known, model_id: until})
    try:
        cache.set(_key(model_id), until, timeout=max(1, int(seconds) + 1))
    except Exception:
        logger.warning("could not store LLM cooldown for %s", model_id, exc_info=True)
        return
    logger.info("model %s cooling down for %.0fs (%s)", model_id, seconds, reason)


# Off the event loop: a cache round trip must not block other streams.
astart_cooldown = sync_to_async(start_cooldown, thread_sensitive=False)


def forget_local_snapshot() -> None:
    """Drop the process-local snapshot (tests that change the cache behind its back)."""
    with _snapshot_lock:
        _snapshot.clear()
