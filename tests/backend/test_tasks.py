"""backend.tasks.dispatch: eager tasks leave the calling thread; with a broker they are queued."""

import contextlib
import threading

import pytest
from celery import shared_task
from django.db import transaction

from backend.tasks import dispatch, enqueue_on_commit

ran_on: list[str] = []
done = threading.Event()


@shared_task
def record_thread() -> None:
    ran_on.append(threading.current_thread().name)
    done.set()


def test_eager_tasks_run_on_a_background_thread(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_EAGER_BACKGROUND = True
    ran_on.clear()
    done.clear()

    dispatch(record_thread)

    assert done.wait(5)
    assert ran_on[0].startswith("eager-task")


def test_without_background_eager_tasks_run_inline(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_EAGER_BACKGROUND = False
    ran_on.clear()

    dispatch(record_thread)

    assert ran_on == [threading.current_thread().name]


received: list[str] = []


@shared_task
def record_argument(value: str) -> None:
    received.append(value)


@pytest.mark.django_db(transaction=True)
def test_a_task_named_by_path_runs_after_commit_and_never_after_a_rollback(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_EAGER_BACKGROUND = False
    received.clear()

    with transaction.atomic():
        enqueue_on_commit("tests.backend.test_tasks.record_argument", args=("committed",))
        assert received == []  # not before the commit
    with contextlib.suppress(RuntimeError), transaction.atomic():
        enqueue_on_commit("tests.backend.test_tasks.record_argument", args=("rolled back",))
        raise RuntimeError("the request failed")

    assert received == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_a_failure_to_enqueue_never_fails_the_committed_work(settings, caplog):
    with transaction.atomic():
        enqueue_on_commit("tests.backend.test_tasks.no_such_task")

    assert "no_such_task" in caplog.text
