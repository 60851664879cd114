"""Which processes are alive to run generations: an id per process and a liveness key in the cache.

Every generation record names the process running it (`worker_id`). While a process runs
generations it refreshes `stream:worker:<id>` in the shared cache every second; the key
expires `STREAM_WORKER_TTL_SECONDS` after the process stops refreshing it. A streaming record
whose worker key is gone belongs to a dead process: the sweeper ends it at once, and its
user's concurrency slot is free at once, instead of after the heartbeat goes stale.

Without Redis the cache is the process's own memory and there is one process: a record of
another worker id is, by construction, from a process that is gone.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_worker: tuple[int, str] | None = None


def worker_id() -> str:
    """This process's id (a new one after a fork)."""
    global _worker
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:
        _worker = (pid, uuid.uuid4().hex[:16])
    return _worker[1]


def _key(worker: str) -> str:
    return f"stream:worker:{worker}"


def mark_alive() -> None:
    cache.set(_key(worker_id()), 1, settings.STREAM_WORKER_TTL_SECONDS)


# Its own thread: refreshing the key must never queue behind other work (it expires meanwhile).
amark_alive = sync_to_async(
    mark_alive, thread_sensitive=False, executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="liveness")
)


def mark_gone() -> None:
    """Forget this process (at shutdown, after its generations ended)."""
    cache.delete(_key(worker_id()))


def alive(workers: Iterable[str]) -> set[str]:
    """The subset of `workers` whose process is alive (this one always is).

    When the cache cannot be read, every worker counts as alive: ending a live generation is
    worse than waiting for the heartbeat to go stale.
    """
    names = {worker for worker in workers if worker}
    if not names:
        return set()
    me = worker_id()
    try:
        found = cache.get_many([_key(worker) for worker in names if worker != me])
    except Exception:
        logger.warning("could not read worker liveness; treating every worker as alive", exc_info=True)
        return names
    return {worker for worker in names if worker == me or _key(worker) in found}
