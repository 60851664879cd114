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

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task, shared_task
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


# --- many requests' background work in one message ---------------------------------------------

BATCH_TASK = "backend.tasks.run_batch"


def enqueue_batched_on_commit(calls: Sequence[tuple[str, tuple[Any, ...]]], *, queue: str = "") -> None:
    """`enqueue_on_commit` for each (task name, args) of `calls`, published by the process's publisher.

    For work many requests start, such as the follow-ups of every answer. Publishing a Celery
    message costs the web process about a millisecond of CPU (the message, kombu, the broker's
    round trip), and when a thousand answers end within seconds that CPU is taken from the
    answers still being admitted. The publisher thread publishes what it is given at once when
    it is idle, and what arrived while it was publishing goes out together, as one `run_batch`
    message that the worker hands on as one task per call (each keeps its own retries). It
    publishes at most once per `Publisher.interval` (100 ms): what arrives within that time after a
    publish waits for the rest of it and leaves with the others. So an idle server publishes
    exactly as before, one message per commit, at once and off the request's thread, and a busy
    one publishes at most ten messages a second (a title or a memory, which takes its model a
    second or more, starts at most 100 ms later).

    With Celery eager (no broker) each call is dispatched as `enqueue_on_commit` would.
    """
    calls = [(name, tuple(args)) for name, args in calls]

    def enqueue() -> None:
        if _app().conf.task_always_eager:
            for name, args in calls:
                dispatch(_task(name), args=args, queue=queue)
            return
        publisher.add(queue, [(name, args, request_id_var.get()) for name, args in calls])

    transaction.on_commit(enqueue, robust=True)


Call = tuple[str, tuple[Any, ...], str]  # task name, args, the enqueuing request's id


class Publisher:
    """One background thread that publishes enqueued calls, a message per queue for what is pending.

    `interval`: the least time in seconds from one publish to the next; the first call after a
    quiet `interval` is published at once.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked child starts with nothing pending

    def _reset(self) -> None:
        self._changed = threading.Condition()
        self._pending: list[tuple[str, list[Call]]] = []
        self._busy = False
        self._thread: threading.Thread | None = None

    def add(self, queue: str, calls: list[Call]) -> None:
        with self._changed:
            self._pending.append((queue, calls))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="task-publisher", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything added so far is published (shutdown); False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        last = -float("inf")  # when the last publish started (monotonic)
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                # Paced: what arrives within `interval` of the last publish waits for the others.
                while (rest := last + self.interval - time.monotonic()) > 0:
                    self._changed.wait(rest)
                batch, self._pending, self._busy = self._pending, [], True
            last = time.monotonic()
            try:
                self._publish(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    @staticmethod
    def _publish(batch: list[tuple[str, list[Call]]]) -> None:
        by_queue: dict[str, list[Call]] = {}
        for queue, calls in batch:
            by_queue.setdefault(queue, []).extend(calls)
        for queue, calls in by_queue.items():
            try:
                if len(calls) == 1:
                    name, args, request_id = calls[0]
                    token = request_id_var.set(request_id)
                    try:
                        dispatch(_task(name), args=args, queue=queue)
                    finally:
                        request_id_var.reset(token)
                else:
                    dispatch(_task(BATCH_TASK), args=([list(call) for call in calls],), queue=queue)
            except Exception:
                names = ", ".join(sorted({name for name, _, _ in calls}))
                logger.exception("publishing %d background tasks (%s) failed", len(calls), names)


def _app() -> Any:
    from celery import current_app

    return current_app


def _task(name: str) -> Task:
    """The task of a dotted path (tasks are named by their path), imported as `enqueue_on_commit` does."""
    task: Task = import_string(name)
    return task


publisher = Publisher()


async def aflush_published(timeout: float = 5.0) -> None:
    """Publish what is still pending before the process exits (an ASGI shutdown hook)."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, publisher.flush, timeout):
        logger.warning("background tasks were still being published at shutdown")


@shared_task(bind=True, ignore_result=True, name=BATCH_TASK)
def run_batch(self: Task, calls: list[list[Any]]) -> None:
    """The worker's side of a batch: each call becomes its own task, on the queue the batch came from.

    Each carries the id of the request that enqueued it into its log lines. A call naming a
    task this worker does not know, or one that cannot be handed on, is logged and skipped; the
    others still go (a retry of the whole batch would hand the others on twice).
    """
    queue = (self.request.delivery_info or {}).get("routing_key") or ""
    for name, args, request_id in calls:
        task = self.app.tasks.get(name)
        if task is None:
            logger.error("a batch named the unknown task %s; skipped", name)
            continue
        token = request_id_var.set(request_id or "-")
        try:
            dispatch(task, args=tuple(args), queue=queue)
        except Exception:
            logger.exception("handing on %s from a batch failed", name)
        finally:
            request_id_var.reset(token)


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
