"""Real Celery workers on Redis: titles after a streamed answer, and tasks killed mid-run.

Each test starts `celery -A aiassistant worker` as a subprocess on the test run's Redis, reading a queue
only this test publishes to (CHAT_BACKGROUND_QUEUE), against the same test database (real
commits: transactional tests) and the in-process Bedrock emulator.

Waits wait for the event itself (a row committed, a log line, a model call), never against a
wall-clock budget of their own: a loaded machine only makes them slower. They fail at once if
a worker that should be running has exited, and the test's own timeout bounds the whole.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection

from backend.llm.models import LLMCall
from backend.logging import request_id_var
from backend.tasks import dispatch
from chat import tasks
from chat.models import Chat, MemoryExtraction, Message, UserMemory
from tests.chat.factories import ChatFactory, turn
from tests.e2e.live import make_user
from tests.sse import headers, stream_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.timeout(600),  # the only time bound: a hung wait fails here, a slow one passes
]

# The test run's own Redis database (REDIS_URL): runs side by side never share a broker.
BROKER = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
REPO = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
TITLE = "You name conversations"
EXTRACTION = "known_memories"


def wait_for(condition: Callable[[], Any], *, what: str, running: tuple[Worker, ...] = ()) -> Any:
    """Wait until `condition()` is true (its value is returned), however long the machine takes.

    Fails at once when one of the `running` workers has exited: the event can no longer happen.
    """
    while True:
        result = condition()
        if result:
            return result
        for worker in running:
            if worker.process.poll() is not None:
                tail = worker.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"the worker exited while waiting for {what}:\n{tail}")
        time.sleep(0.05)


class Worker:
    """One `celery worker` process group (main process and its prefork child)."""

    def __init__(
        self, *, queue: str, emulator_url: str, log: Path, restore_seconds: int, env: dict[str, str] | None = None
    ) -> None:
        database = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST'] or '127.0.0.1'}:"
                f"{database['PORT'] or 5432}/{database['NAME']}"
            ),
            "REDIS_URL": BROKER,
            "CELERY_BROKER_URL": BROKER,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_UNACKED_RESTORE_SECONDS": str(restore_seconds),
            "BEDROCK_ENDPOINT_URL": emulator_url,
            **(env or {}),
        }
        self.log = log
        argv = [CELERY, "-A", "aiassistant", "worker", "--pool=prefork", "--concurrency=1", "-Q", queue]
        argv += ["-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat", "--loglevel=INFO"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: " ready." in log.read_text(errors="replace"), what=f"the worker ({log})", running=(self,))

    def child_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def kill(self) -> None:
        """SIGKILL the whole process group: nothing gets to acknowledge or clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def queue(settings) -> Iterator[str]:
    """This process publishes chat background tasks to the test Redis, on a queue of its own."""
    from aiassistant.celery import app

    name = f"test-chat-background-{uuid.uuid4().hex[:8]}"
    # The app reads Django settings through the CELERY_ namespace: override the namespaced keys.
    saved = {key: app.conf[key] for key in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")}
    app.conf.update(CELERY_BROKER_URL=BROKER, CELERY_TASK_ALWAYS_EAGER=False)
    app._after_fork()  # drop connection pools made for the previous broker
    assert (app.conf.broker_url, app.conf.task_always_eager) == (BROKER, False)
    settings.CHAT_BACKGROUND_QUEUE = name
    yield name
    app.conf.update(saved)
    app._after_fork()
    import redis

    client = redis.Redis.from_url(BROKER)
    client.delete(name, *client.scan_iter(f"_kombu.binding*.{name}"))
    # A failed run may leave a message unacknowledged; kombu would later restore it into this queue.
    for tag, entry in client.hgetall("unacked").items():
        if name.encode() in entry:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture
def workers(queue, emulator, tmp_path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*, restore_seconds: int = 1, env: dict[str, str] | None = None) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = Worker(queue=queue, emulator_url=emulator.url, log=log, restore_seconds=restore_seconds, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def requests_for(emulator, marker: str) -> list[dict]:
    return [r for r in emulator.requests() if marker in str(r["body"])]


def tool_reply(*summaries: str) -> dict:
    memories = [{"summary": s, "category": "work", "confidence": 0.9} for s in summaries]
    return {"tool_use": {"name": "record_memories", "input": {"memories": memories}}}


def test_a_title_and_memories_appear_after_a_streamed_answer(live_server_asgi, workers, emulator):
    emulator.add_rule({"match": TITLE, "response": {"text": "Night shift sleep"}})
    emulator.add_rule({"match": EXTRACTION, "response": tool_reply("Works night shifts as a nurse")})
    worker = workers()
    user, token = make_user("worker-alice@example.com")

    events = stream_events(
        live_server_asgi, "POST", "/api/v1/chat/messages/", token, json_body={"content": "I work night shifts."}
    )

    assert events[-1].event == "message_stop"
    chat_id = events[0].data["chat_id"]
    chat = wait_for(
        lambda: Chat.objects.filter(id=chat_id, title_source="generated").first(), what="the title", running=(worker,)
    )
    assert chat.title == "Night shift sleep"
    listed = httpx.get(f"{live_server_asgi.url}/api/v1/chat/chats/", headers=headers(token)).json()["results"]
    assert [(c["id"], c["title"]) for c in listed] == [(chat_id, "Night shift sleep")]  # what the client sees
    wait_for(lambda: UserMemory.objects.filter(user=user).exists(), what="the memory", running=(worker,))
    assert UserMemory.objects.get(user=user).summary == "Works night shifts as a nurse"
    assert set(LLMCall.objects.filter(user=user).values_list("purpose", flat=True)) == {"chat", "title", "memory"}
    log = worker.log.read_text(errors="replace")
    assert "chat.tasks.generate_chat_title" in log and "chat.tasks.extract_turn_memories" in log  # not in-process
    assert "backend.tasks.run_batch" in log  # both left the web process as one message


def test_the_worker_logs_json_lines_carrying_the_enqueuing_requests_id(workers, queue, emulator):
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat, user_text="Tips for sourdough?", assistant_text="Feed it daily.")
    worker = workers(env={"LOG_FORMAT": "json"})

    token = request_id_var.set("trace-worker-0001")
    try:
        dispatch(tasks.generate_chat_title, args=(str(chat.id),), queue=queue)
    finally:
        request_id_var.reset(token)

    wait_for(lambda: "succeeded" in worker.log.read_text(errors="replace"), what="the task", running=(worker,))
    lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
    assert any("ready." in line["message"] for line in lines)  # Celery's own lines, in the app's format
    done = [line for line in lines if "succeeded" in line["message"]]
    assert done and done[0]["request_id"] == "trace-worker-0001"


def test_a_task_whose_worker_process_is_killed_is_redelivered_and_applied_once(workers, queue, emulator):
    chat = ChatFactory()
    answer = turn(chat, user_text="I am a nurse", assistant_text="Noted.").messages.get(role=Message.Role.ASSISTANT)
    emulator.add_rule({"match": EXTRACTION, "response": tool_reply("Works as a nurse")})
    # The first delivery hangs in the model call long enough to be killed there.
    emulator.add_rule(
        {"match": EXTRACTION, "response": tool_reply("Works as a nurse"), "first_token_ms": 30_000, "times": 1}
    )
    worker = workers()

    tasks.extract_turn_memories.apply_async(args=(str(answer.id),), queue=queue)
    wait_for(lambda: requests_for(emulator, EXTRACTION), what="the first model call", running=(worker,))
    os.kill(worker.child_pid(), signal.SIGKILL)  # acks_late + reject_on_worker_lost: back to the queue

    wait_for(
        lambda: MemoryExtraction.objects.filter(pair=answer.pair).exists(), what="the redelivery", running=(worker,)
    )
    assert len(requests_for(emulator, EXTRACTION)) == 2
    assert list(UserMemory.objects.values_list("summary", flat=True)) == ["Works as a nurse"]
    assert "WorkerLostError" in worker.log.read_text(errors="replace")

    # A further copy of the message (a redelivery after the work committed) changes nothing.
    tasks.extract_turn_memories.apply_async(args=(str(answer.id),), queue=queue)
    wait_for(lambda: worker.log.read_text(errors="replace").count("succeeded") == 2, what="the copy", running=(worker,))
    assert len(requests_for(emulator, EXTRACTION)) == 2
    assert UserMemory.objects.count() == 1


def test_a_task_lost_with_its_whole_worker_is_redelivered_to_the_next_worker_once(workers, queue, emulator):
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat, user_text="Tips for sourdough?", assistant_text="Feed it daily.")
    emulator.add_rule({"match": TITLE, "response": {"text": "Sourdough tips"}})
    emulator.add_rule({"match": TITLE, "response": {"text": "Too slow"}, "first_token_ms": 30_000, "times": 1})
    # Killed while sweeping for lost tasks, a worker would leave kombu's sweep lock held for minutes.
    first = workers(restore_seconds=600)

    tasks.generate_chat_title.apply_async(args=(str(chat.id),), queue=queue)
    wait_for(lambda: requests_for(emulator, TITLE), what="the first model call", running=(first,))
    first.kill()  # unacknowledged: Redis hands it out again after the visibility timeout
    second = workers()

    wait_for(
        lambda: Chat.objects.filter(id=chat.id, title_source="generated").exists(), what="the title", running=(second,)
    )
    assert Chat.objects.get(id=chat.id).title == "Sourdough tips"
    assert len(requests_for(emulator, TITLE)) == 2
    assert LLMCall.objects.filter(purpose="title", status="ok").count() == 1
