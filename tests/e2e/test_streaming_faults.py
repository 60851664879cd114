"""The streaming engine under faults, over real server processes, PostgreSQL, Redis and the emulator.

Two `manage.py serve` processes (A and B) share the database and Redis like two web workers.
Every test asserts the invariants of docs/streaming.md:

- every stream read to its end opens with `message_start` and ends with exactly one terminal
  event; ids strictly increase; an appending client never shows text twice or misses text;
- every accepted user message has exactly one assistant message, in a terminal state;
- the usage shown to the user equals the ledger.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.db.models import Sum

from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.models import LLMCall
from backend.streaming.log import redis_key
from chat.models import Message, TokenUsage
from chat.services.generation import engine
from tests.e2e.live import make_user
from tests.e2e.servers import ServerProcess, wait_for
from tests.sse import SSEEvent, assert_stream_contract, headers, ids, parse_sse, visible_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# Short intervals so that every fault resolves in about a second.
FAULT_ENV = {
    "STREAM_KEEPALIVE_SECONDS": "1",
    "STREAM_CHECKPOINT_SECONDS": "0.2",
    "STREAM_WORKER_TTL_SECONDS": "2",
    "STREAM_ORPHAN_GRACE_SECONDS": "1",
    "STREAM_SWEEP_SECONDS": "0.5",
    "STREAM_SHUTDOWN_GRACE_SECONDS": "1",
    "STREAM_LOCAL_RETENTION_SECONDS": "0",
    "CHAT_MAX_CONCURRENT_GENERATIONS": "1",
}
SEND = "/api/v1/chat/messages/"


def expected_text(prompt: str, tokens: int) -> str:
    return "".join(default_reply_tokens(strip_directives(prompt), tokens))


@pytest.fixture(scope="module")
def servers(django_db_setup: Any, django_db_blocker: Any, emulator_server: Any, tmp_path_factory: Any) -> Iterator[Any]:
    logs = tmp_path_factory.mktemp("servers")
    a = ServerProcess(emulator_url=emulator_server.url, log=logs / "a.log", env=FAULT_ENV)
    b = ServerProcess(emulator_url=emulator_server.url, log=logs / "b.log", env=FAULT_ENV)
    yield a, b
    a.terminate()
    b.terminate()


@pytest.fixture
def own_server(emulator_server: Any, tmp_path: Path) -> Iterator[Any]:
    """A server of this test alone (to crash or stop)."""
    started: list[ServerProcess] = []

    def start() -> ServerProcess:
        server = ServerProcess(
            emulator_url=emulator_server.url, log=tmp_path / f"own-{len(started)}.log", env=FAULT_ENV
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.terminate()


@pytest.fixture(autouse=True)
def servers_quiet_at_teardown(transactional_db: Any) -> Iterator[None]:
    """After each test, wait until no server session is busy, then empty the database.

    The servers run title and memory tasks in the background after an answer ends; such a task
    can be silent on the database while it waits for the model, then write while the flush's
    TRUNCATE takes its locks: PostgreSQL ends one of them as a deadlock. Waiting for a quiet
    moment makes that rare; the flush here is tried again when it loses (pytest-django's own
    flush then finds the tables empty), so a background write never leaves the next test's
    users in place.
    """
    yield
    for attempt in range(3):
        _wait_until_servers_quiet()
        try:
            call_command("flush", verbosity=0, interactive=False)
            return
        except (CommandError, OperationalError):
            if attempt == 2:
                raise


def _wait_until_servers_quiet() -> None:
    quiet, deadline = 0, time.monotonic() + 10
    while quiet < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
            )
            busy = cursor.fetchone()[0]
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(0.1)


@pytest.fixture
def user_and_token(emulator: Any) -> tuple[Any, str]:
    return make_user()


class Reader:
    """Reads one SSE response in a thread; stops after `stop_after` events if given."""

    def __init__(self, method: str, url: str, token: str, *, stop_after: int | None = None, **kwargs: Any) -> None:
        self.events: list[SSEEvent] = []
        self.status = 0
        self.first = threading.Event()
        self.done = threading.Event()
        self._args = (method, url, token, stop_after, kwargs)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        method, url, token, stop_after, kwargs = self._args
        extra = kwargs.pop("headers", {})
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(30, read=kwargs.pop("read_timeout", 30))) as client,
                client.stream(method, url, headers=headers(token, **extra), **kwargs) as response,
            ):
                self.status = response.status_code
                for event in parse_sse(response.iter_lines()):
                    self.events.append(event)
                    if event.event == "delta":
                        self.first.set()
                    if stop_after is not None and len(self.events) >= stop_after:
                        return  # the client goes away
        except httpx.HTTPError:
            pass
        finally:
            self.first.set()
            self.done.set()

    def join(self, timeout: float = 30) -> list[SSEEvent]:
        assert self.done.wait(timeout), "the stream did not end"
        return self.events


def read_all(method: str, url: str, token: str, **kwargs: Any) -> list[SSEEvent]:
    return Reader(method, url, token, **kwargs).join()


def answers_of(user: Any) -> list[Message]:
    return list(Message.objects.filter(pair__chat__user=user, role="assistant"))


def assert_nothing_lost(user: Any) -> None:
    """One assistant message per user message, each terminal (waiting for background generations)."""
    wait_for(
        lambda: all(m.is_terminal for m in answers_of(user)),
        timeout=20,
        what="every answer to reach a terminal state",
    )
    users = Message.objects.filter(pair__chat__user=user, role="user").count()
    assert len(answers_of(user)) == users


def assert_usage_matches_ledger(user: Any) -> None:
    """What the user is shown (per message, and the chat roll-up) equals the ledger, to the cent."""
    ledger = LLMCall.objects.filter(user=user, purpose="chat").aggregate(
        cost=Sum("cost"), input=Sum("input_tokens"), output=Sum("output_tokens")
    )
    messages = Message.objects.filter(pair__chat__user=user, role="assistant").aggregate(
        cost=Sum("cost"), input=Sum("input_tokens"), output=Sum("output_tokens")
    )
    rollup = TokenUsage.objects.filter(user=user, purpose="chat").aggregate(
        cost=Sum("cost"), input=Sum("input_tokens"), output=Sum("output_tokens")
    )
    cents = Decimal("0.01")
    for figures in (messages, rollup):
        assert (figures["input"] or 0, figures["output"] or 0) == (ledger["input"] or 0, ledger["output"] or 0)
        assert (figures["cost"] or Decimal(0)).quantize(cents) == (ledger["cost"] or Decimal(0)).quantize(cents)


# --- Disconnects ------------------------------------------------------------------------------------------


def _raw_post(server: ServerProcess, token: str, body: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port))
    conn.sendall(
        b"POST " + SEND.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Token "
        + token.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    return conn


def test_a_client_gone_before_the_first_byte_still_gets_its_turn_answered(servers, user_and_token):
    a, _ = servers
    user, token = user_and_token
    prompt = "[[emu:tokens=8]] [[emu:first_token_ms=300]] gone at once"
    body = json.dumps({"content": prompt}).encode()

    # Once the turn is stored, the client leaves before reading a single byte.
    conn = _raw_post(a, token, body)
    wait_for(lambda: Message.objects.filter(pair__chat__user=user, role="user").exists(), timeout=10, what="accept")
    conn.close()

    assert_nothing_lost(user)
    [answer] = answers_of(user)
    assert (answer.status, answer.text) == ("complete", expected_text(prompt, 8))
    assert_usage_matches_ledger(user)


@pytest.mark.parametrize("leave_after", [1, 4])  # after message_start; mid-answer
def test_a_client_that_leaves_resumes_the_exact_suffix_on_the_other_process(servers, user_and_token, leave_after):
    a, b = servers
    user, token = user_and_token
    prompt = "[[emu:tokens=30]] [[emu:delay_ms=20]] leave and come back"

    seen = Reader("POST", a.url + SEND, token, json={"content": prompt}, stop_after=leave_after).join()
    message_id = seen[0].data["assistant_message_id"]
    rest = read_all(
        "GET", f"{b.url}/api/v1/chat/messages/{message_id}/stream/", token, headers={"Last-Event-ID": str(seen[-1].id)}
    )

    assert_stream_contract(rest, after=seen[-1].id)
    assert rest[0].data == seen[0].data
    assert ids(seen + rest) == list(range(1, len(ids(seen + rest)) + 1))  # live suffix: ids continue, none twice
    assert visible_text(rest, visible_text(seen)) == expected_text(prompt, 30)
    assert_nothing_lost(user)
    assert_usage_matches_ledger(user)


def test_a_model_that_pauses_longer_than_every_timeout_is_followed_to_the_end(servers, user_and_token):
    a, b = servers
    user, token = user_and_token
    prompt = "[[emu:tokens=3]] [[emu:delay_ms=2500]] slow thinker"

    first = Reader("POST", a.url + SEND, token, json={"content": prompt}, read_timeout=2)
    assert first.first.wait(20)
    message_id = first.events[0].data["assistant_message_id"]
    # A follower on the other process waits on Redis through the pauses (keep-alives every second).
    follower = read_all(
        "GET",
        f"{b.url}/api/v1/chat/messages/{message_id}/stream/",
        token,
        headers={"Last-Event-ID": "1"},
        read_timeout=2,
    )
    direct = first.join()

    for events, after in ((direct, 0), (follower, 1)):
        assert_stream_contract(events, after=after)
        assert events[-1].event == "message_stop"
    assert visible_text(direct) == expected_text(prompt, 3)
    assert visible_text(follower) == expected_text(prompt, 3)  # a resume after message_start only: the whole text
    assert not any(e.event == "snapshot" for e in follower)  # the live log, not a fallback
    assert_usage_matches_ledger(user)


# --- Crashes and shutdown ---------------------------------------------------------------------------------


def test_a_killed_process_leaves_interrupted_answers_free_slots_and_consistent_logs(
    own_server, servers, user_and_token
):
    _, b = servers
    user, token = user_and_token
    doomed = own_server()
    prompt = "[[emu:tokens=400]] [[emu:delay_ms=20]] long answer"

    seen = Reader("POST", doomed.url + SEND, token, json={"content": prompt}, stop_after=15).join()
    message_id = seen[0].data["assistant_message_id"]
    wait_for(lambda: Message.objects.get(id=message_id).text, timeout=10, what="a checkpoint")
    doomed.kill()
    restarted = own_server()  # sweeps at startup; B's maintenance loop sweeps too

    answer = wait_for(lambda: (m := Message.objects.get(id=message_id)).is_terminal and m, timeout=20, what="the sweep")
    assert (answer.status, answer.error_code) == ("interrupted", "interrupted")
    assert answer.text and expected_text(prompt, 400).startswith(answer.text)
    # The resume ends with the stored text and the terminal event, ids past everything seen.
    rest = read_all(
        "GET",
        f"{restarted.url}/api/v1/chat/messages/{message_id}/stream/",
        token,
        headers={"Last-Event-ID": str(seen[-1].id)},
    )
    assert_stream_contract(rest, after=seen[-1].id)
    assert rest[-1].event == "error" and rest[-1].data["code"] == "interrupted"
    assert visible_text(rest, visible_text(seen)) == answer.text
    # The crashed generation holds no slot: with a limit of 1, the user can ask again at once.
    again = read_all("POST", b.url + SEND, token, json={"content": "[[emu:tokens=3]] again"})
    assert_stream_contract(again)
    assert again[-1].event == "message_stop"
    assert_nothing_lost(user)
    assert_usage_matches_ledger(user)


def test_a_graceful_shutdown_ends_every_open_stream_with_its_terminal_event(own_server, user_and_token):
    user, token = user_and_token
    server = own_server()
    prompt = "[[emu:tokens=500]] [[emu:delay_ms=20]] cut by a deploy"
    reader = Reader("POST", server.url + SEND, token, json={"content": prompt})
    assert reader.first.wait(20)

    server.terminate()
    events = reader.join()

    assert_stream_contract(events)
    assert events[-1].event == "error"
    assert (events[-1].data["code"], events[-1].data["model"]) == ("interrupted", events[0].data["model"])
    answer = Message.objects.get(id=events[0].data["assistant_message_id"])
    assert (answer.status, answer.text) == ("interrupted", visible_text(events))
    assert answer.output_tokens == events[-1].data["usage"]["output_tokens"] > 0  # billed, and shown
    assert "Traceback" not in server.output()
    assert_usage_matches_ledger(user)


# --- Replays ------------------------------------------------------------------------------------------------


def _expire_log(message_id: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert client.delete(redis_key(engine.log_key(message_id))) == 1
    finally:
        client.close()


def test_a_resume_after_the_log_expired_gets_a_snapshot_and_the_end(servers, user_and_token):
    a, b = servers
    user, token = user_and_token
    prompt = "[[emu:tokens=20]] expired later"
    events = read_all("POST", a.url + SEND, token, json={"content": prompt})
    message_id = events[0].data["assistant_message_id"]
    _expire_log(message_id)
    seen = events[:6]

    rest = read_all(
        "GET", f"{b.url}/api/v1/chat/messages/{message_id}/stream/", token, headers={"Last-Event-ID": str(seen[-1].id)}
    )

    assert_stream_contract(rest, after=seen[-1].id)
    assert [e.event for e in rest] == ["message_start", "snapshot", "message_stop"]
    assert min(ids(rest)) > max(ids(events))  # never an id the client may already have
    assert visible_text(rest, visible_text(seen)) == expected_text(prompt, 20)
    assert rest[-1].data == events[-1].data  # the same model and usage as the live end
    assert_usage_matches_ledger(user)


@pytest.mark.parametrize("expired", [False, True])
def test_an_idempotent_retry_replays_the_same_answer_from_message_start(servers, user_and_token, emulator, expired):
    a, b = servers
    user, token = user_and_token
    prompt = "[[emu:tokens=12]] [[emu:delay_ms=30]] retry me"
    key = {"Idempotency-Key": f"retry-{expired}"}
    first = Reader("POST", a.url + SEND, token, json={"content": prompt}, headers=dict(key))
    assert first.first.wait(20)
    if expired:
        first.join()
        _expire_log(first.events[0].data["assistant_message_id"])

    second = read_all("POST", b.url + SEND, token, json={"content": prompt}, headers=dict(key))

    assert_stream_contract(second)
    assert second[0].data["assistant_message_id"] == first.join()[0].data["assistant_message_id"]
    assert visible_text(second) == visible_text(first.events) == expected_text(prompt, 12)
    assert len([r for r in emulator.requests() if r["operation"] == "converse-stream"]) == 1  # generated once
    assert_nothing_lost(user)


def test_stop_on_another_process_cancels_the_answer_and_shows_what_it_cost(servers, user_and_token):
    a, b = servers
    user, token = user_and_token
    reader = Reader("POST", a.url + SEND, token, json={"content": "[[emu:tokens=500]] [[emu:delay_ms=20]] stop me"})
    assert reader.first.wait(20)
    message_id = reader.events[0].data["assistant_message_id"]

    response = httpx.post(f"{b.url}/api/v1/chat/messages/{message_id}/stop/", headers=headers(token))
    events = reader.join()

    assert response.status_code == 202
    assert_stream_contract(events)
    stop = events[-1]
    assert (stop.event, stop.data["stop_reason"], stop.data["model"]) == (
        "message_stop",
        "cancelled",
        events[0].data["model"],
    )
    answer = Message.objects.get(id=message_id)
    assert (answer.status, answer.text) == ("cancelled", visible_text(events))
    assert answer.output_tokens == stop.data["usage"]["output_tokens"] > 0
    assert_usage_matches_ledger(user)
