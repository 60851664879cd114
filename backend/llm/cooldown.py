"""Short, shared cooldowns for models that throttle or are unavailable.

Stored in the Django cache (Redis in production), so a model that throttled one worker is
skipped by every web process and Celery worker until the cooldown ends. Cooldowns are
advisory: when every model of a chain is cooling down, the chain is tried anyway.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "llm:cooldown:"


def _key(model_id: str) -> str:
    return f"{_PREFIX}{model_id}"


def cooling_models(model_ids: list[str]) -> set[str]:
    """The subset of `model_ids` currently cooling down. A cache outage means no cooldowns."""
    try:
        found = cache.get_many([_key(model_id) for model_id in model_ids])
    except Exception:
        logger.warning("LLM cooldown lookup failed; trying every model", exc_info=True)
        return set()
    now = time.time()
    return {key.removeprefix(_PREFIX) for key, until in found.items() if float(until) > now}


def start_cooldown(model_id: str, seconds: float, *, reason: str) -> None:
    if seconds <= 0:
        return
    try:
        cache.set(_key(model_id), time.time() + seconds, timeout=max(1, int(seconds) + 1))
    except Exception:
        logger.warning("could not store LLM cooldown for %s", model_id, exc_info=True)
        return
    logger.info("model %s cooling down for %.0fs (%s)", model_id, seconds, reason)


# Off the event loop: a cache round trip must not block other streams.
acooling_models = sync_to_async(cooling_models, thread_sensitive=False)
astart_cooldown = sync_to_async(start_cooldown, thread_sensitive=False)
