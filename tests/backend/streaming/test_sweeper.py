"""The sweeper and the concurrency slot: which streaming records belong to dead processes.

A record is ended `interrupted` when its process's liveness key is gone (once its heartbeat is
older than the admission grace), or when it stopped heart-beating for STREAM_STALE_SECONDS;
never while its process is alive and heart-beating.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from backend import errors
from backend.db import db_executor
from backend.streaming import workers
from backend.streaming.engine import Admission, Run, maintenance
from backend.streaming.log import LocalLog
from backend.streaming.models import IdempotencyKey
from backend.streaming.services import idempotency_keys_purge
from backend.streaming.tasks import sweep_generations
from chat.models import Chat, Message, MessagePair
from chat.services.generation import engine
from chat.services.messages import message_send
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _answer(user, *, worker="", age_seconds=0.0, text="partial"):
    chat = Chat.objects.create(user=user)
    pair = MessagePair.objects.create(chat=chat)
    Message.objects.create(pair=pair, role="user", text="q")
    return Message.objects.create(
        pair=pair,
        role="assistant",
        status="streaming",
        text=text,
        worker_id=worker,
        heartbeat_at=timezone.now() - timedelta(seconds=age_seconds),
    )


def _alive_elsewhere(name: str) -> str:
    cache.set(f"stream:worker:{name}", 1, 60)
    return name


def test_records_of_dead_processes_end_once_past_the_grace_and_live_ones_stay():
    user = UserFactory()
    grace = settings.STREAM_ORPHAN_GRACE_SECONDS
    dead = _answer(user, worker="gone", age_seconds=grace + 1)
    just_admitted = _answer(user, worker="gone-too", age_seconds=0)
    alive = _answer(user, worker=_alive_elsewhere("other-process"), age_seconds=grace + 1)
    hung = _answer(user, worker=_alive_elsewhere("hung-process"), age_seconds=settings.STREAM_STALE_SECONDS + 1)
    ours = _answer(user, worker=workers.worker_id(), age_seconds=grace + 1)

    assert sweep_generations.delay().get() == 2

    states = {m.id: m.status for m in Message.objects.filter(role="assistant")}
    assert states[dead.id] == states[hung.id] == "interrupted"
    assert states[just_admitted.id] == states[alive.id] == states[ours.id] == "streaming"
    dead.refresh_from_db()
    assert (dead.text, dead.error_code) == ("partial", "interrupted")  # the checkpointed text is kept


def test_a_second_sweep_changes_nothing():
    _answer(UserFactory(), age_seconds=settings.STREAM_STALE_SECONDS + 1)

    assert engine.sweep() == 1
    assert engine.sweep() == 0


def test_a_dead_process_holds_no_concurrency_slot(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user = UserFactory()
    orphan = _answer(user, worker="crashed", age_seconds=settings.STREAM_ORPHAN_GRACE_SECONDS + 1)
    accepted = []

    admission = engine.admit(user=user, accept=lambda: accepted.append(1) or Admission(record_id=orphan.id))

    assert accepted == [1] and admission.record_id == orphan.id
    orphan.refresh_from_db()
    assert orphan.status == "interrupted"


def test_a_live_process_holds_its_slot(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user = UserFactory()
    _answer(user, worker=workers.worker_id(), age_seconds=settings.STREAM_ORPHAN_GRACE_SECONDS + 1)

    with pytest.raises(errors.RateLimited) as refused:
        engine.admit(user=user, accept=lambda: pytest.fail("must not accept"))

    assert refused.value.code == "too_many_generations"


def test_the_slot_counts_only_the_users_own_answers(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    busy, other = UserFactory(), UserFactory()
    for _ in range(3):  # someone else's answers, alive and generating
        _answer(other, worker=workers.worker_id())
    held = _answer(busy, worker=workers.worker_id())
    accepted = []

    admission = engine.admit(user=UserFactory(), accept=lambda: accepted.append(1) or Admission(record_id=held.id))
    with pytest.raises(errors.RateLimited):
        engine.admit(user=busy, accept=lambda: pytest.fail("must not accept"))

    assert accepted == [1] and admission.record_id == held.id


def test_every_message_names_its_chats_user():
    user = UserFactory()
    answer = _answer(user)  # saved one by one
    accepted = message_send(user=user, content="hello")  # written in bulk

    stored = Message.objects.filter(pair__chat__user=user).values_list("user_id", flat=True)
    assert answer.user_id == user.id and accepted.assistant_message.user_id == user.id
    assert set(stored) == {user.id} and len(stored) == 4


def test_an_idempotency_key_replays_without_a_slot_and_refuses_another_body(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user = UserFactory()
    answer = _answer(user, worker=workers.worker_id())
    IdempotencyKey.objects.create(user=user, scope="chat", key="k", request_hash="h1", record_id=answer.id)

    replay = engine.admit(user=user, idempotency_key="k", fingerprint="h1", accept=lambda: pytest.fail("no"))
    with pytest.raises(errors.Conflict):
        engine.admit(user=user, idempotency_key="k", fingerprint="h2", accept=lambda: pytest.fail("no"))

    assert (replay.record_id, replay.replayed) == (answer.id, True)


def test_old_idempotency_keys_are_forgotten(settings):
    user = UserFactory()
    answer = _answer(user)
    old = IdempotencyKey.objects.create(user=user, scope="chat", key="old", request_hash="h", record_id=answer.id)
    IdempotencyKey.objects.filter(id=old.id).update(
        created_at=timezone.now() - timedelta(hours=settings.STREAM_IDEMPOTENCY_TTL_HOURS + 1)
    )
    IdempotencyKey.objects.create(user=user, scope="prototypes", key="new", request_hash="h", record_id=answer.id)

    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_when_liveness_cannot_be_read_nothing_alive_is_ended(monkeypatch):
    user = UserFactory()
    answer = _answer(user, worker="maybe-alive", age_seconds=settings.STREAM_ORPHAN_GRACE_SECONDS + 1)

    def unreachable(keys):
        raise ConnectionError("cache down")

    monkeypatch.setattr(workers.cache, "get_many", unreachable)

    assert engine.sweep() == 0
    answer.refresh_from_db()
    assert answer.status == "streaming"


def test_a_process_stays_alive_while_its_database_threads_are_busy(settings):
    """Under load a checkpoint waits behind admissions; the liveness key must not expire meanwhile."""
    settings.STREAM_WORKER_TTL_SECONDS = 2
    settings.STREAM_CHECKPOINT_SECONDS = 0.1
    release = threading.Event()
    for _ in range(settings.DB_THREADS):  # every database thread busy, as with a queue of admissions
        db_executor().submit(release.wait, 30)
    record_id = uuid.uuid4()
    key = f"stream:worker:{workers.worker_id()}"

    async def run() -> object:
        engine.running[record_id] = Run(
            engine=engine, record_id=record_id, admission=Admission(record_id=record_id), log=LocalLog(key="test")
        )
        maintenance.ensure_running()
        # Past the key's lifetime twice over, with the maintenance loop stuck in its checkpoint.
        await asyncio.sleep(2 * settings.STREAM_WORKER_TTL_SECONDS)
        return await sync_to_async(cache.get, thread_sensitive=False)(key)

    try:
        still_alive = asyncio.run(run())
    finally:
        release.set()
        engine.running.pop(record_id, None)
        asyncio.run(maintenance.aclose())

    assert still_alive is not None


@pytest.mark.parametrize("vendor_path", ["database", "orm"])
def test_a_checkpoint_writes_text_and_heartbeat_of_running_answers_only(vendor_path, monkeypatch):
    """PostgreSQL's one-statement checkpoint and the ORM's (other databases) write the same rows."""
    if vendor_path == "orm":
        from django.db import connection

        monkeypatch.setattr(connection, "vendor", "other")
    user = UserFactory()
    grown, idle = _answer(user, age_seconds=30, text="a"), _answer(user, age_seconds=30, text="b")
    ended = _answer(user, age_seconds=30, text="c")
    Message.objects.filter(id=ended.id).update(status="complete")
    before = timezone.now()

    engine.checkpoint(
        texts={grown.id: ("a «grown» 🌊", 7), ended.id: ("must not land", 9)}, alive=[grown.id, idle.id, ended.id]
    )

    grown.refresh_from_db(), idle.refresh_from_db(), ended.refresh_from_db()
    assert (grown.text, grown.event_seq) == ("a «grown» 🌊", 7)
    assert grown.heartbeat_at >= before and idle.heartbeat_at >= before
    assert (idle.text, idle.event_seq) == ("b", 0)
    assert (ended.text, ended.status) == ("c", "complete") and ended.heartbeat_at < before


@contextlib.asynccontextmanager
async def _running_answer(log_key: str) -> AsyncIterator[Run]:
    """A run registered with the engine whose task never ends by itself (cancelled on leaving)."""
    record_id = uuid.uuid4()
    run = Run(engine=engine, record_id=record_id, admission=Admission(record_id=record_id), log=LocalLog(key=log_key))
    run.task = asyncio.ensure_future(asyncio.sleep(3600))
    engine.running[record_id] = run
    try:
        yield run
    finally:
        engine.running.pop(record_id, None)
        run.task.cancel()


@pytest.mark.django_db(transaction=True)
async def test_a_remote_stop_is_read_when_announced_and_the_flags_are_not_read_on_every_poll(monkeypatch):
    """Stop flags are read when the stop epoch changes (and every STOP_FULL_READ_SECONDS), not
    on every poll: a quiet process with many running answers does one small read per poll."""
    from backend.streaming import engine as engine_module

    reads = []
    aget_many = cache.aget_many

    async def counted(keys):
        reads.append(keys)
        return await aget_many(keys)

    monkeypatch.setattr(cache, "aget_many", counted)
    # As in a process that has not polled yet (an earlier test's answers ran the maintenance loop).
    monkeypatch.setattr(engine, "_stop_epoch_seen", None)
    monkeypatch.setattr(engine, "_stop_flags_read_at", 0.0)
    async with _running_answer("t") as run:
        record_id = run.record_id
        await engine._apply_remote_stops()  # the first poll reads every flag: none is set
        await engine._apply_remote_stops()  # nothing announced, no full read due
        assert len(reads) == 1 and not run.stop_requested

        await sync_to_async(cache.set, thread_sensitive=False)(engine.stop_key(record_id), 1, 60)
        await engine._apply_remote_stops()  # a flag without its announcement waits for the full read
        assert not run.stop_requested
        monkeypatch.setattr(engine_module, "STOP_FULL_READ_SECONDS", 0.0)
        await engine._apply_remote_stops()
        assert run.stop_requested and len(reads) == 2
        await asyncio.sleep(0)
        assert run.task.cancelled()

        run.stop_requested = False
        monkeypatch.setattr(engine_module, "STOP_FULL_READ_SECONDS", 3600.0)
        await sync_to_async(engine._announce_stops, thread_sensitive=False)()  # another process stopped one
        await engine._apply_remote_stops()
        assert run.stop_requested and len(reads) == 3


async def test_a_stop_poll_that_cannot_reach_redis_logs_and_stops_nothing(monkeypatch, caplog):
    """The poll reads on the event loop's own Redis client: a refused connection is logged, the
    running answer goes on, and the next poll reads again (nothing was taken as seen)."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    from backend.cache import RedisCache, aclose_async_clients

    unreachable = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})
    monkeypatch.setattr(cache, "aget", unreachable.aget)
    monkeypatch.setattr(cache, "aget_many", unreachable.aget_many)
    seen, read_at = engine._stop_epoch_seen, engine._stop_flags_read_at
    try:
        async with _running_answer("u") as run:
            await asyncio.wait_for(engine._apply_remote_stops(), timeout=5)
            assert not run.stop_requested and not run.task.done()
            assert (engine._stop_epoch_seen, engine._stop_flags_read_at) == (seen, read_at)
            assert "could not read" in caplog.text
    finally:
        await aclose_async_clients()


# --- a user trusted from memory: the slot's count checks the guard ------------------------------------


def _guard(*, holds: bool):
    from backend.db import SqlGuard

    return SqlGuard("%(holds)s", {"holds": holds})


def test_a_guard_that_fails_admits_nothing_before_anything_is_read(settings, monkeypatch):
    from backend.db import GuardFailed
    from backend.llm import budget

    user = UserFactory()
    monkeypatch.setattr(budget, "check_budget", lambda user_id: pytest.fail("the budget is read after the guard"))

    with pytest.raises(GuardFailed):
        engine.admit(user=user, guard=_guard(holds=False), accept=lambda: pytest.fail("must not accept"))


def test_a_guard_that_holds_admits_and_the_slot_still_counts(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user = UserFactory()
    accepted = []
    first = _answer(user, worker=workers.worker_id())
    first.status = "complete"
    first.save()

    admission = engine.admit(
        user=user, guard=_guard(holds=True), accept=lambda: accepted.append(1) or Admission(record_id=first.id)
    )
    _answer(user, worker=workers.worker_id())  # now one answer is streaming
    with pytest.raises(errors.RateLimited):
        engine.admit(user=user, guard=_guard(holds=True), accept=lambda: pytest.fail("must not accept"))

    assert accepted == [1] and admission.record_id == first.id


def test_a_guarded_admission_cannot_replay_a_key():
    with pytest.raises(ValueError, match="Idempotency-Key"):
        engine.admit(
            user=UserFactory(), guard=_guard(holds=True), idempotency_key="k", accept=lambda: pytest.fail("no")
        )


def test_an_adapter_without_its_own_count_checks_the_guard_on_its_own():
    from backend.db import GuardFailed
    from prototypes.services.generation import engine as prototypes_engine

    assert getattr(prototypes_engine.adapter, "running_count", None) is None
    with pytest.raises(GuardFailed):
        prototypes_engine.admit(user=UserFactory(), guard=_guard(holds=False), accept=lambda: pytest.fail("no"))
