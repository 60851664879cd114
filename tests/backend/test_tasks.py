"""backend.tasks.dispatch: eager tasks leave the calling thread; with a broker they are queued."""

import threading

from celery import shared_task

from backend.tasks import dispatch

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
