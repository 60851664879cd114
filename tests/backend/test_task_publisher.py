"""The process's task publisher: one message for the follow-ups of many requests, none lost or reordered."""

from __future__ import annotations

import threading

import pytest
from celery import shared_task
from django.db import transaction

from backend import tasks
from backend.logging import request_id_var
from backend.tasks import BATCH_TASK, Publisher, enqueue_batched_on_commit, run_batch


@shared_task
def first_job(value: str) -> None:
    """Only dispatched by name here (dispatch is replaced): never run."""


@shared_task
def second_job(value: str) -> None:
    """As `first_job`."""


FIRST = f"{__name__}.first_job"
SECOND = f"{__name__}.second_job"


class Broker:
    """`dispatch` replaced: records each message (task name, args, queue, request id); the first can be held."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple, str, str]] = []
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.hold.set()
        self.fail = False

    def __call__(self, task, *, args=(), kwargs=None, queue="") -> None:
        if not self.messages:
            self.holding.set()
            assert self.hold.wait(10)
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.messages.append((task.name, args, queue, request_id_var.get()))


@pytest.fixture
def broker(monkeypatch) -> Broker:
    import chat.tasks  # noqa: F401 - bound to the real `dispatch` before the patch (see test_finish_sql)

    fake = Broker()
    monkeypatch.setattr(tasks, "dispatch", fake)
    return fake


def test_a_lone_call_is_its_own_task_message_with_its_request_id(broker):
    publisher = Publisher()

    publisher.add("q", [(FIRST, ("a",), "req-1")])

    assert publisher.flush(10)
    assert broker.messages == [(FIRST, ("a",), "q", "req-1")]


def test_what_arrives_while_a_message_is_published_leaves_as_one_batch_in_order(broker):
    publisher = Publisher()
    broker.hold.clear()
    publisher.add("q", [(FIRST, ("a",), "req-1")])
    assert broker.holding.wait(10)  # the first message is being published

    publisher.add("q", [(FIRST, ("b",), "req-2"), (SECOND, ("b",), "req-2")])
    publisher.add("other", [(SECOND, ("c",), "req-3")])
    publisher.add("q", [(SECOND, ("d",), "req-4")])
    broker.hold.set()

    assert publisher.flush(10)
    assert broker.messages[0] == (FIRST, ("a",), "q", "req-1")
    batch = [(FIRST, ("b",), "req-2"), (SECOND, ("b",), "req-2"), (SECOND, ("d",), "req-4")]
    assert broker.messages[1] == (BATCH_TASK, ([list(call) for call in batch],), "q", "-")
    assert broker.messages[2] == (SECOND, ("c",), "other", "req-3")
    assert len(broker.messages) == 3


def test_the_first_call_after_a_quiet_interval_is_published_at_once(broker):
    publisher = Publisher(interval=60)

    publisher.add("q", [(FIRST, ("a",), "req-1")])

    assert publisher.flush(5)  # not held back by the (long) interval: nothing was published before
    assert broker.messages == [(FIRST, ("a",), "q", "req-1")]


def test_calls_within_the_interval_after_a_publish_wait_and_leave_together(broker):
    publisher = Publisher(interval=60)
    publisher.add("q", [(FIRST, ("a",), "req-1")])
    assert publisher.flush(5)

    publisher.add("q", [(FIRST, ("b",), "req-2")])
    publisher.add("q", [(SECOND, ("c",), "req-3")])
    assert publisher.flush(0.3) is False  # paced: they wait for the rest of the interval
    assert len(broker.messages) == 1

    publisher.interval = 0  # the interval is over: the next change lets them go, together
    publisher.add("q", [(SECOND, ("d",), "req-4")])
    assert publisher.flush(5)
    batch = [(FIRST, ("b",), "req-2"), (SECOND, ("c",), "req-3"), (SECOND, ("d",), "req-4")]
    assert broker.messages[1] == (BATCH_TASK, ([list(call) for call in batch],), "q", "-")
    assert len(broker.messages) == 2


def test_a_failed_publish_is_logged_by_task_name_and_the_publisher_goes_on(broker, caplog):
    publisher = Publisher()
    broker.fail = True
    publisher.add("q", [(FIRST, ("a",), "-"), (SECOND, ("a",), "-")])
    assert publisher.flush(10)
    assert "publishing 2 background tasks" in caplog.text and FIRST in caplog.text and SECOND in caplog.text

    broker.fail = False
    publisher.add("q", [(FIRST, ("b",), "-")])
    assert publisher.flush(10)
    assert broker.messages == [(FIRST, ("b",), "q", "-")]


def test_flush_reports_a_publish_that_does_not_end_in_time(broker):
    publisher = Publisher()
    broker.hold.clear()
    publisher.add("q", [(FIRST, ("a",), "-")])
    assert broker.holding.wait(10)

    assert publisher.flush(0.05) is False
    broker.hold.set()
    assert publisher.flush(10)


def test_a_call_the_worker_cannot_hand_on_is_logged_and_the_others_still_go(broker, monkeypatch, caplog):
    sent: list[str] = []

    def flaky(task, *, args=(), kwargs=None, queue=""):
        if args == ("b",):
            raise ConnectionError("broker hiccup")
        sent.append(args[0])

    monkeypatch.setattr(tasks, "dispatch", flaky)
    run_batch.apply(args=([[FIRST, ["a"], "-"], [SECOND, ["b"], "-"], [FIRST, ["c"], "-"]],))

    assert sent == ["a", "c"]
    assert f"handing on {SECOND} from a batch failed" in caplog.text


def test_the_worker_hands_each_call_of_a_batch_to_its_own_task_with_its_request_id(broker, caplog):
    calls = [[FIRST, ["a"], "req-1"], ["no.such.task", [], "req-2"], [SECOND, ["b"], "req-3"]]

    run_batch.apply(args=(calls,), queue="q")

    assert [(name, args, request_id) for name, args, _, request_id in broker.messages] == [
        (FIRST, ("a",), "req-1"),
        (SECOND, ("b",), "req-3"),
    ]
    assert "unknown task no.such.task" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_calls_go_to_the_publisher_on_commit_and_never_after_a_rollback(broker, monkeypatch):
    added: list[tuple[str, list]] = []
    monkeypatch.setattr(tasks.publisher, "add", lambda queue, calls: added.append((queue, calls)))
    conf = tasks._app().conf
    eager = conf["CELERY_TASK_ALWAYS_EAGER"]  # the app reads Django settings through the CELERY_ namespace
    conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    token = request_id_var.set("req-9")
    try:
        with transaction.atomic():
            enqueue_batched_on_commit([(FIRST, ("a",)), (SECOND, ("b",))], queue="q")
            assert added == []
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_batched_on_commit([(FIRST, ("rolled back",))], queue="q")
            raise RuntimeError("the request failed")
    finally:
        request_id_var.reset(token)
        conf.update(CELERY_TASK_ALWAYS_EAGER=eager)

    assert added == [("q", [(FIRST, ("a",), "req-9"), (SECOND, ("b",), "req-9")])]


@pytest.mark.django_db(transaction=True)
def test_eager_celery_dispatches_each_call_at_once(broker):
    with transaction.atomic():
        enqueue_batched_on_commit([(FIRST, ("a",)), (SECOND, ("b",))], queue="q")

    assert [(name, args) for name, args, _, _ in broker.messages] == [(FIRST, ("a",)), (SECOND, ("b",))]


def test_the_shutdown_hook_waits_for_what_is_pending_and_says_so_when_it_cannot(broker, monkeypatch, caplog):
    import asyncio

    from django.conf import settings

    assert "backend.tasks.aflush_published" in settings.ASGI_SHUTDOWN_HOOKS
    publisher = Publisher()
    monkeypatch.setattr(tasks, "publisher", publisher)
    publisher.add("q", [(FIRST, ("a",), "-")])
    asyncio.run(tasks.aflush_published())
    assert broker.messages == [(FIRST, ("a",), "q", "-")] and "still being published" not in caplog.text

    broker.messages.clear()
    broker.hold.clear()
    publisher.add("q", [(FIRST, ("b",), "-")])
    assert broker.holding.wait(10)
    asyncio.run(tasks.aflush_published(timeout=0.05))
    assert "still being published at shutdown" in caplog.text
    broker.hold.set()
    assert publisher.flush(10)
