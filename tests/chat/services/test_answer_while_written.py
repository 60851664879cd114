"""A chat answer starts while its turn is written (`backend.streaming.engine.launch_before_write`).

Each test holds the turn's write (the statement that makes it durable) until something has
happened on the answer's side, which is only possible when the answer started before the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid

import pytest
from django.core.asgi import get_asgi_application
from django.db import OperationalError

from backend.llm.models import LLMCall
from backend.llm.types import TextDelta
from backend.streaming import engine as engine_module
from backend.streaming.asgi import with_streaming_fast_path
from backend.streaming.engine import Admission
from backend.streaming.log import logs
from chat.models import Chat, Message
from chat.services import messages
from chat.services.generation import engine
from tests.chat.factories import ChatFactory, turn
from tests.e2e.live import make_user
from tests.helpers import asgi_call, asgi_scope

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds: far more than the emulator needs to answer


def _send(token: str, body: bytes, *, then_wait_for: threading.Event | None = None) -> tuple[int, bytes]:
    """POST a message through the ASGI application on a new event loop, which ends with the response.

    `then_wait_for`: the loop is kept running after the response until it is set (work the
    engine still does on the server's loop, which a real server keeps).
    """
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    django_application = with_streaming_fast_path(get_asgi_application())

    async def application(scope, receive, send) -> None:
        await django_application(scope, receive, send)
        deadline = time.monotonic() + WAIT
        while then_wait_for is not None and not then_wait_for.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    status, _, content = asgi_call(application, asgi_scope("/api/v1/chat/messages/", headers=headers), body)
    return status, content


def _runs_ended(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once a run has ended (its terminal write and log flush done).

    Passed as `_send(then_wait_for=...)`: the test's loop then outlives the run's last awaits,
    instead of cancelling them at its close (a server's loop keeps running).
    """
    ended = threading.Event()
    real = engine._end

    async def end(run, outcome) -> None:
        try:
            await real(run, outcome)
        finally:
            ended.set()

    monkeypatch.setattr(engine, "_end", end)
    return ended


def _streamed_text(body: bytes) -> str:
    """The text of the `delta` events of an SSE body."""
    text = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "delta":
            text.append(json.loads(lines["data"])["text"])
    return "".join(text)


class ModelCalls:
    """The engine's model calls, wrapped: events set when a call opened (its first event) and ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened, self.ended, self.closed = threading.Event(), threading.Event(), threading.Event()
        self.first_delta = threading.Event()
        self.deltas = 0
        real = engine_module.llm.astream

        async def watched(request, *, report=None):
            try:
                # closed with this wrapper, as the engine closes the call it holds
                async with contextlib.aclosing(real(request, report=report)) as events:
                    async for event in events:
                        self.opened.set()
                        if isinstance(event, TextDelta):
                            self.deltas += 1
                            self.first_delta.set()
                        yield event
                self.ended.set()
            finally:
                self.closed.set()

        monkeypatch.setattr(engine_module.llm, "astream", watched)


class HeldWrites:
    """Each turn's write waits, after the answer was started, for `until` (then runs `then`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, until: threading.Event, then=None) -> None:
        self.seen: list[dict] = []
        real = messages._answer_early

        def held(chat, pair, user_message, assistant_message) -> None:
            real(chat, pair, user_message, assistant_message)
            waited = until.wait(timeout=WAIT)
            self.seen.append(
                {
                    "id": assistant_message.id,
                    "waited": waited,
                    "written": Message.objects.filter(id=assistant_message.id).exists(),
                }
            )
            if then is not None:
                then(len(self.seen))

        monkeypatch.setattr(messages, "_answer_early", held)


def test_the_model_answers_before_the_turn_is_written_and_nothing_is_shown_before_it(monkeypatch):
    _, token = make_user("early-open@example.com")
    calls = ModelCalls(monkeypatch)
    writes = HeldWrites(monkeypatch, until=calls.opened)

    status, body = _send(token, b'{"content": "hello"}', then_wait_for=_runs_ended(monkeypatch))

    assert status == 200 and b"event: message_stop" in body
    [seen] = writes.seen
    assert seen["waited"] and not seen["written"]  # the call had answered; the turn was not written yet
    answer = Message.objects.get(id=seen["id"])
    assert answer.status == Message.Status.COMPLETE and answer.text == _streamed_text(body)
    assert body.index(b"event: message_start") < body.index(b"event: delta")


def test_the_rest_of_a_burst_is_read_once_the_turn_is_written(monkeypatch):
    _, token = make_user("early-burst@example.com")
    calls = ModelCalls(monkeypatch)
    read_before_write: list[int] = []

    def after_the_first_delta(_attempt: int) -> None:
        time.sleep(0.05)  # the whole burst of 20 tokens is there to be read
        read_before_write.append(calls.deltas)

    HeldWrites(monkeypatch, until=calls.first_delta, then=after_the_first_delta)

    status, body = _send(token, b'{"content": "[[emu:tokens=20]] hello"}', then_wait_for=_runs_ended(monkeypatch))

    assert status == 200 and b"event: message_stop" in body
    assert read_before_write == [1]  # the first token; the others waited for the write
    assert calls.deltas == 20 and body.count(b"event: delta") == 20


@pytest.mark.parametrize(
    ("content", "status", "error_code"),
    [
        ("[[emu:tokens=0]] nothing to say", Message.Status.COMPLETE, ""),
        ("[[emu:error=ValidationException]] refused", Message.Status.ERROR, "llm_client_error"),
    ],
    ids=["empty answer", "refused at once"],
)
def test_an_answer_that_ends_before_its_turn_is_written_is_stored_once_it_is(monkeypatch, content, status, error_code):
    _, token = make_user(f"early-end-{status}@example.com")
    calls = ModelCalls(monkeypatch)
    writes = HeldWrites(monkeypatch, until=calls.closed)

    response_status, body = _send(
        token, json.dumps({"content": content}).encode(), then_wait_for=_runs_ended(monkeypatch)
    )

    assert response_status == 200 and (b"event: message_stop" in body or b"event: error" in body)
    [seen] = writes.seen
    assert seen["waited"] and not seen["written"]  # the model call was over before the write
    answer = Message.objects.get(id=seen["id"])  # its terminal write waited for the turn's
    assert (answer.status, answer.error_code, answer.text) == (status, error_code, "")
    assert answer.completed_at


@pytest.mark.parametrize(
    ("content", "ledger_status"),
    [("hello", "cancelled"), ("[[emu:tokens=0]] over before the write", "ok")],
    ids=["call open", "call over"],
)
def test_a_turn_whose_write_fails_abandons_the_answer_it_started(monkeypatch, content, ledger_status):
    user, token = make_user(f"early-fail-{ledger_status}@example.com")
    calls = ModelCalls(monkeypatch)
    abandoned: list = []
    real_abandon = engine.abandon
    monkeypatch.setattr(engine, "abandon", lambda run: (abandoned.append(run.record_id), real_abandon(run)))
    cleaned_up = threading.Event()
    real_abandoned = engine._abandoned

    async def abandoned_then_signal(run) -> None:
        await real_abandoned(run)
        cleaned_up.set()

    monkeypatch.setattr(engine, "_abandoned", abandoned_then_signal)

    def fail(_attempt: int) -> None:
        raise OperationalError("the database went away during the write")

    writes = HeldWrites(monkeypatch, until=calls.opened if ledger_status == "cancelled" else calls.closed, then=fail)

    status, body = _send(token, json.dumps({"content": content}).encode(), then_wait_for=cleaned_up)

    assert status == 503 and b"database" in body.lower()
    [seen] = writes.seen
    assert seen["waited"] and cleaned_up.is_set()
    assert abandoned == [seen["id"]]
    assert calls.closed.is_set()  # the model call was closed
    assert not Chat.objects.filter(user=user).exists() and not Message.objects.filter(id=seen["id"]).exists()
    assert seen["id"] not in engine.running and engine.log_key(seen["id"]) not in logs.logs
    # What the opened call may have billed is in the ledger, under the answer that was never written.
    [call] = LLMCall.objects.filter(reference=f"chat.message:{seen['id']}")
    assert call.user_id == user.id and call.status == ledger_status


def test_a_follow_up_written_again_after_a_race_abandons_the_first_attempts_answer(monkeypatch):
    user, token = make_user("early-race@example.com")
    chat = ChatFactory(user=user)
    root = turn(chat)
    turn(chat, root)  # the active leaf
    calls = ModelCalls(monkeypatch)
    abandoned: list = []
    real_abandon = engine.abandon
    monkeypatch.setattr(engine, "abandon", lambda run: (abandoned.append(run.record_id), real_abandon(run)))

    def race(attempt: int) -> None:
        if attempt == 1:  # another turn moved the chat's leaf between this turn's read and its write
            Chat.objects.filter(id=chat.id).update(active_leaf=root)

    writes = HeldWrites(monkeypatch, until=calls.opened, then=race)

    status, body = _send(token, f'{{"content": "next", "chat_id": "{chat.id}"}}'.encode())

    assert status == 200 and b"event: message_stop" in body
    first, second = writes.seen
    assert abandoned == [first["id"]]
    assert not Message.objects.filter(id=first["id"]).exists()
    answer = Message.objects.select_related("pair").get(id=second["id"])
    assert answer.status == Message.Status.COMPLETE and answer.pair.parent_id == root.id
    assert str(second["id"]).encode() in body and str(first["id"]).encode() not in body


def test_a_run_abandoned_before_its_task_started_leaves_nothing_behind():
    record_id = uuid.uuid4()

    async def launch_and_abandon() -> asyncio.Task:
        run = engine.launch(Admission(record_id=record_id), gate=asyncio.get_running_loop().create_future())
        engine.abandon(run)  # before the task's first step: none of its code ever runs
        assert run.task is not None
        await asyncio.gather(run.task, return_exceptions=True)
        return run.task

    task = asyncio.run(launch_and_abandon())

    assert task.cancelled()
    assert record_id not in engine.running and engine.log_key(record_id) not in logs.logs


def test_a_new_chats_rate_check_and_memories_run_beside_its_running_count(monkeypatch):
    """Through the API, the turn takes the rate check started ahead and the memories read with its
    running-answers count (`messages.message_send_ahead`) instead of making them after the count."""
    from chat.services import memory
    from chat.services.memory import recall

    user, token = make_user("read-ahead@example.com")
    memory.memory_create(user=user, summary="Is called Ada")
    taken: list[object] = []

    def watching(module, describe):
        real = module.ahead_result

        def watched(future, read):
            result = real(future, read)
            taken.append(describe(result))
            return result

        monkeypatch.setattr(module, "ahead_result", watched)

    watching(messages, lambda decision: ("rate", decision.allowed))
    real_candidates = recall._candidates

    def candidates(chat):
        read_with_the_count = recall._ahead.get() is not None
        found = real_candidates(chat)
        taken.append((read_with_the_count, [remembered.summary for remembered in found]))
        return found

    monkeypatch.setattr(recall, "_candidates", candidates)

    status, body = _send(token, b'{"content": "hello"}', then_wait_for=_runs_ended(monkeypatch))

    assert status == 200 and b"event: message_stop" in body
    assert sorted(taken, key=str) == [("rate", True), (True, ["Is called Ada"])]
    answer = Message.objects.get(pair__chat__user=user, role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.COMPLETE
    assert recall._ahead.get() is None  # set in the admission's own context, never in the caller's


def _statements_after_the_count(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL the admission's thread runs after its running-answers count, up to the turn's write."""
    from django.db.backends import utils

    from chat.services import generation

    after: list[str] = []
    counted: dict[int, bool] = {}
    real_count, real_execute = generation.fetchone_with_riders, utils.CursorWrapper.execute

    def count(sql, params):
        try:
            return real_count(sql, params)
        finally:
            counted[threading.get_ident()] = True

    def execute(self, sql, params=None):
        if counted.get(threading.get_ident()) and not any(done.startswith("WITH moved") for done in after):
            after.append(" ".join(str(sql).split()))
        return real_execute(self, sql, params)

    monkeypatch.setattr(generation, "fetchone_with_riders", count)
    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    return after


def test_a_follow_ups_chat_is_read_in_its_running_counts_round_trip(monkeypatch):
    """Its chat, its memories and the last turn of its history come with the count: after the
    count, the turn's only statement is its write."""
    from chat.services import context, memory, turn_sql
    from chat.services.memory import recall

    user, token = make_user("chat-ahead@example.com")
    memory.memory_create(user=user, summary="Is called Ada")
    chat = ChatFactory(user=user)
    Chat.objects.filter(id=chat.id).update(active_leaf=turn(chat))  # one `_send` per test: one event loop
    read_with_the_count: list[object] = []
    real = turn_sql._chat_with_leaf

    def chat_with_leaf(**kwargs):
        read_with_the_count.append(turn_sql._chat_ahead.get() is not None)
        return real(**kwargs)

    monkeypatch.setattr(turn_sql, "_chat_with_leaf", chat_with_leaf)
    real_candidates, real_last_turn = recall._candidates, context._last_turn_read_ahead

    def candidates(chat):
        ahead = recall._ahead.get() is not None
        found = real_candidates(chat)
        read_with_the_count.append(("memories", ahead, [m.summary for m in found]))
        return found

    def last_turn(pair):
        row = real_last_turn(pair)
        read_with_the_count.append(("last turn", row is not None))
        return row

    monkeypatch.setattr(recall, "_candidates", candidates)
    monkeypatch.setattr(context, "_last_turn_read_ahead", last_turn)
    statements = _statements_after_the_count(monkeypatch)

    ended = _runs_ended(monkeypatch)
    status, body = _send(
        token, json.dumps({"content": "and then?", "chat_id": str(chat.id)}).encode(), then_wait_for=ended
    )

    assert status == 200 and b"event: message_stop" in body
    assert read_with_the_count == [True, ("memories", True, ["Is called Ada"]), ("last turn", True)]
    assert [sql.split()[:2] for sql in statements] == [["WITH", "moved"]]
    assert chat.pairs.count() == 2


def test_a_follow_up_shares_its_history_entry_with_its_terminal_write(monkeypatch, settings):
    """The entry other processes extend next is written after the answer, not before its first token."""
    from django.core.cache import cache

    from chat.services import context

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    user, token = make_user("history-later@example.com")
    chat = ChatFactory(user=user)
    first = turn(chat)
    Chat.objects.filter(id=chat.id).update(active_leaf=first)
    version = Chat.objects.values_list("history_edit_version", flat=True).get(id=chat.id)
    key = context._history_key(chat.id, version, first.id)
    seen_when_the_model_answered: list[bool] = []
    real_append = engine_module.Run.append_text

    def append_text(self, text, **extra):
        if not self.text_parts:
            seen_when_the_model_answered.append(cache.get(key) is not None)
        return real_append(self, text, **extra)

    monkeypatch.setattr(engine_module.Run, "append_text", append_text)
    ended = _runs_ended(monkeypatch)
    status, body = _send(
        token, json.dumps({"content": "and then?", "chat_id": str(chat.id)}).encode(), then_wait_for=ended
    )

    assert status == 200 and b"event: message_stop" in body
    assert seen_when_the_model_answered == [False]
    assert [turn_[0] for turn_ in cache.get(key)] == [str(first.id)]
