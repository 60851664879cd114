"""Enqueueing Celery tasks so that, without a broker, they still never slow a request.

Services never import task modules (tasks are the outer layer: they import services). A service
that starts background work names the task: `enqueue_on_commit("chat.tasks.generate_chat_title",
args=(...))` runs it once the current transaction commits, never when it rolls back, and a broker
failure is logged without failing the committed request.

With a broker, `dispatch` is `apply_async`. In the embedded default (no broker, Celery eager)
a task would run inline in whatever thread enqueued it — for a web request or a streaming
answer, in front of the user. With `CELERY_EAGER_BACKGROUND` (the default) eager tasks run on a
small background thread pool instead; tests turn it off to observe their effects synchronously.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None


def _run_eager(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        task.apply(args=args, kwargs=kwargs)
    except Exception:
        logger.exception("background task %s failed", task.name)
    finally:
        close_old_connections()


def dispatch(task: Task, *, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, queue: str = "") -> None:
    """Run `task` in the background: on a worker, or on a local thread when Celery is eager."""
    global _pool
    kwargs = kwargs or {}
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_EAGER_BACKGROUND:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="eager-task")
        _pool.submit(_run_eager, task, args, kwargs)
        return
    options = {"queue": queue} if queue else {}
    task.apply_async(args=args, kwargs=kwargs, **options)


def enqueue_on_commit(
    task_path: str, *, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, queue: str = ""
) -> None:
    """Dispatch the task at `task_path` (a dotted path) after the current transaction commits.

    Outside a transaction it is dispatched at once. A failure to enqueue (broker down) is logged
    (`robust`), so it never turns a committed request into an error.
    """

    def enqueue() -> None:
        dispatch(import_string(task_path), args=args, kwargs=kwargs, queue=queue)

    transaction.on_commit(enqueue, robust=True)
