"""The Celery broker down or hanging while answers end: the answers end as usual, the failure is logged.

A complete answer's follow-ups (its title, memory extraction) are published after its terminal
write by the process's publisher thread (`backend.tasks.enqueue_batched_on_commit`). A broker
that refuses or never answers holds that thread, never the answer.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from backend import tasks
from chat.models import Chat, Message
from tests.sse import assert_stream_contract, stream_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _publish_to(url: str, socket_timeout: float | None = None) -> Iterator[None]:
    """This process publishes to `url`, not eagerly (with `socket_timeout`, the broker socket's timeout)."""
    from aiassistant.celery import app

    keys = ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_TRANSPORT_OPTIONS")
    saved = {key: app.conf[key] for key in keys}
    options = dict(saved["CELERY_BROKER_TRANSPORT_OPTIONS"])
    if socket_timeout is not None:
        options.update(socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
    app.conf.update(CELERY_BROKER_URL=url, CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_TRANSPORT_OPTIONS=options)
    app._after_fork()  # drop connection pools made for the previous broker
    try:
        yield
    finally:
        app.conf.update(saved)
        app._after_fork()


class Blackhole:
    """A TCP listener that accepts connections and never answers, until closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for held in self.held:
            held.close()


def _answer(live, token: str) -> list:
    events = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "Hello"})
    assert_stream_contract(events)
    assert events[-1].event == "message_stop"
    assert Message.objects.get(id=events[0].data["assistant_message_id"]).status == Message.Status.COMPLETE
    return events


def test_a_refusing_broker_costs_the_answer_nothing_and_the_failure_is_logged(live, alice, emulator, caplog):
    caplog.set_level(logging.ERROR, logger="backend.tasks")
    with _publish_to_refusing():
        events = _answer(live, alice[1])
        assert tasks.publisher.flush(60)  # kombu's retries end, off the answer's path

    failures = [r.getMessage() for r in caplog.records if "publishing 2 background tasks" in r.getMessage()]
    assert failures and "chat.tasks.generate_chat_title" in failures[0], caplog.text
    chat = Chat.objects.get(id=events[0].data["chat_id"])
    assert chat.title_source == Chat.TitleSource.DEFAULT  # not titled: the next complete answer asks again


def test_a_broker_that_never_answers_holds_the_publisher_not_the_answer(live, alice, emulator, caplog):
    """`CELERY_BROKER_SOCKET_TIMEOUT` (1 s here) ends the wait; without it kombu waited for good."""
    caplog.set_level(logging.ERROR, logger="backend.tasks")
    blackhole = Blackhole()
    try:
        with _publish_to_url(f"redis://127.0.0.1:{blackhole.port}/0", socket_timeout=1.0):
            _answer(live, alice[1])
            assert not tasks.publisher.flush(0.2)  # the answer ended; its follow-ups are still being published
            assert tasks.publisher.flush(60)  # the broker socket's timeout, then kombu's retries, end it
    finally:
        blackhole.close()
    assert any("publishing 2 background tasks" in r.getMessage() for r in caplog.records), caplog.text


def _publish_to_refusing():  # port 1: nothing listens
    return _publish_to_url("redis://127.0.0.1:1/0")


def _publish_to_url(url: str, socket_timeout: float | None = None):
    import contextlib

    return contextlib.contextmanager(_publish_to)(url, socket_timeout)
