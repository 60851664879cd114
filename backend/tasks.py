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

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

from backend.logging import request_id_var

logger = logging.getLogger(__name__)

# The message header that carries the request id of the request that enqueued a task.
REQUEST_ID_HEADER = "request_id"

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
        # The copied context carries the request id into the task's log lines.
        _pool.submit(contextvars.copy_context().run, _run_eager, task, args, kwargs)
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


# --- the request id follows the work into Celery -----------------------------------------------


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault(REQUEST_ID_HEADER, request_id)


_task_tokens: dict[str, contextvars.Token[str]] = {}


@task_prerun.connect
def _adopt_request_id(task_id: str = "", task: Task | None = None, **kwargs: Any) -> None:
    """A worker's task logs with the enqueuing request's id (or `task-<id>` when there was none).

    Eager tasks already run in the enqueuing context and keep its id.
    """
    incoming = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if incoming:
        _task_tokens[task_id] = request_id_var.set(str(incoming))
    elif request_id_var.get() == "-":
        _task_tokens[task_id] = request_id_var.set(f"task-{task_id[:12]}")


@task_postrun.connect
def _forget_request_id(task_id: str = "", **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
