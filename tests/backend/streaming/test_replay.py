"""Replaying a generation to a client: the event-id contract of docs/streaming.md, case by case.

These read the engine's replay directly (no HTTP): a live local log, the Redis log of another
process, and the stored record when no log can answer.
"""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
import redis
from django.conf import settings

from backend.db import db_sync_to_async
from backend.streaming import replay
from backend.streaming.log import (
    SEQ,
    EventLogs,
    Follow,
    LocalLog,
    _decode_entry,
    close_orphaned_log,
    event_data,
    flush_interval,
    logs,
    redis_key,
)
from chat.models import Chat, Message, MessagePair
from chat.services.generation import engine
from tests.factories import UserFactory
from tests.sse import assert_stream_contract, ids, parse_sse, visible_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


async def _read(record_id, after=0):
    chunks = [chunk async for chunk in replay.events(engine, record_id, after=after)]
    return list(parse_sse(b"".join(chunks).decode().split("\n")))


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


async def test_a_stored_answer_is_a_snapshot_past_every_id_then_its_end():
    answer = await _answer(
        **{
            "pair": (await _pair()),
            "role": "assistant",
            "status": "complete",
            "text": "The whole answer.",
            "model_id": "m",
            "stop_reason": "end_turn",
            "output_tokens": 4,
            "event_seq": 9,
        }
    )

    fresh = await _read(answer.id)
    resumed = await _read(answer.id, after=5)
    ahead = await _read(answer.id, after=30)

    for events, after in ((fresh, 0), (resumed, 5), (ahead, 30)):
        assert_stream_contract(events, after=after)
        assert [e.event for e in events] == ["message_start", "snapshot", "message_stop"]
        assert events[0].id is None
        assert min(ids(events)) > max(after, 9)
        assert visible_text(events, "whatever the client had") == "The whole answer."
    assert fresh[-1].data == {"stop_reason": "end_turn", "model": "m", "usage": _usage(output=4)}


def _make_pair():
    pair = MessagePair.objects.create(chat=Chat.objects.create(user=UserFactory()))
    Message.objects.create(pair=pair, role="user", text="q")
    return pair


_pair = db_sync_to_async(_make_pair)
# The test's own ORM work runs on the engine's database threads too (their connections are closed).
_answer = db_sync_to_async(Message.objects.create)


def _usage(output=0, input=0):
    return {"input_tokens": input, "output_tokens": output, "cache_read_tokens": 0, "cache_write_tokens": 0}


async def test_a_live_local_log_gives_the_exact_suffix_after_an_id_less_message_start():
    answer = await _answer(pair=await _pair(), role="assistant", status="streaming")
    log = logs.open(engine.log_key(answer.id))
    log.append("message_start", {"assistant_message_id": str(answer.id), "model": "m"})
    for word in ("one ", "two ", "three"):
        log.append("delta", {"text": word})
    log.append("message_stop", {"stop_reason": "end_turn", "model": "m", "usage": _usage()})
    try:
        events = await _read(answer.id, after=2)
    finally:
        logs.logs.pop(log.key, None)

    assert_stream_contract(events, after=2)
    assert [(e.id, e.event) for e in events] == [
        (None, "message_start"),
        (3, "delta"),
        (4, "delta"),
        (5, "message_stop"),
    ]
    assert visible_text(events, "one ") == "one two three"


async def test_a_client_past_the_end_of_a_redis_log_gets_a_snapshot_not_a_hang(redis_client):
    answer = await _answer(
        pair=await _pair(), role="assistant", status="interrupted", text="stored", error_code="interrupted", event_seq=3
    )
    key = redis_key(engine.log_key(answer.id))
    for seq, (kind, data) in enumerate(
        [("message_start", {"model": "m"}), ("delta", {"text": "sto"}), ("error", {"code": "interrupted"})], 1
    ):
        redis_client.xadd(key, {"t": kind, "d": json.dumps(data)}, id=f"0-{seq}")
    try:
        # The client saw events the durable log never got (its process died before flushing them).
        events = await _read(answer.id, after=7)
    finally:
        redis_client.delete(key)

    assert_stream_contract(events, after=7)
    assert [e.event for e in events] == ["message_start", "snapshot", "error"]
    assert min(ids(events)) == 8
    assert visible_text(events, "sto + unflushed") == "stored"


def test_the_sweeper_closes_a_dead_log_past_every_id_the_process_could_have_sent(redis_client):
    key = "chat:00000000-0000-0000-0000-000000000001"
    redis_client.xadd(redis_key(key), {"t": "delta", "d": "{}"}, id="0-40")
    try:
        last = close_orphaned_log(
            key, after_seq=55, events=[("snapshot", {"text": "t"}), ("error", {"code": "interrupted"})]
        )
        entries = redis_client.xrange(redis_key(key))
    finally:
        redis_client.delete(redis_key(key))

    assert last > 55 + 1000  # beyond anything the dead process can have handed out unflushed
    assert [entry[1][b"t"] for entry in entries] == [b"delta", b"snapshot", b"error"]


def test_a_logs_events_are_left_alone_by_the_garbage_collector():
    """A process keeps every event of its running answers and of the last minute's finished ones
    (~100,000 under a thousand streams): as exact tuples of strings, numbers and a dict of
    strings, the collector stops tracking them and full collections do not walk them again."""
    log = LocalLog(key="k")
    log.append("message_start", {"assistant_message_id": "a", "model": "m"})
    for text in ("Hello", ", ", "world"):
        log.append("delta", {"text": text})
    log.append("message_stop", {"stop_reason": "end_turn", "output_tokens": 3})

    gc.collect()

    assert len(log.events) == 5
    assert not any(gc.is_tracked(event) for event in log.events)


def test_a_local_log_numbers_its_events_and_marks_its_end():
    log = LocalLog(key="k")

    seqs = [log.append(kind, {})[SEQ] for kind in ("message_start", "delta", "error")]

    assert seqs == [1, 2, 3]
    assert (log.ended, log.last_seq) == (True, 3)


def _slow_pipelines(event_logs, monkeypatch, *, seconds: float, first_only: bool = False) -> list:
    """Make the logs' Redis pipelines take `seconds` longer (only the first with `first_only`);
    returns the list of the pipelines created from now on."""
    client = event_logs._redis_client()
    make_pipeline = client.pipeline
    created: list = []

    def slow_pipeline(*args, **kwargs):
        pipeline = make_pipeline(*args, **kwargs)
        if not (first_only and created):
            execute = pipeline.execute

            async def late_execute(*a, **k):
                await asyncio.sleep(seconds)
                return await execute(*a, **k)

            pipeline.execute = late_execute
        created.append(pipeline)
        return pipeline

    monkeypatch.setattr(client, "pipeline", slow_pipeline)
    return created


async def test_overlapping_flushes_never_lose_events_to_redis(redis_client, monkeypatch):
    event_logs = EventLogs()
    log = event_logs.open("chat:00000000-0000-0000-0000-0000000000ff")
    # The first flush's round trip is slow: the second would overtake it.
    _slow_pipelines(event_logs, monkeypatch, seconds=0.1, first_only=True)
    try:
        for number in range(3):
            log.append("delta", {"text": str(number)})
        first = asyncio.ensure_future(event_logs.flush())  # the periodic flush
        await asyncio.sleep(0.01)
        for number in range(3, 6):
            log.append("delta", {"text": str(number)})
        await event_logs.flush()  # the generation's final flush
        await first
        entries = redis_client.xrange(redis_key(log.key))
    finally:
        redis_client.delete(redis_key(log.key))
        await event_logs.aclose()

    assert [event[SEQ] for entry in entries for event in _decode_entry(*entry)] == [1, 2, 3, 4, 5, 6]
    assert [event_data(event)["text"] for entry in entries for event in _decode_entry(*entry)] == list("012345")


async def test_logs_ending_together_share_one_flush_and_each_waits_until_its_events_are_written(
    redis_client, monkeypatch, settings
):
    """`flush(log)` (an answer's end) returns once that log's events are in Redis: the ends that
    came while the first end's flush was in flight share the next flush (two, not five scans of
    every log with a pipeline each)."""
    settings.STREAM_LOG_FLUSH_SECONDS = 60  # no periodic flush during the test
    event_logs = EventLogs()
    logs = [event_logs.open(f"chat:00000000-0000-0000-0000-0000000001{n:02d}") for n in range(5)]
    written_when_returned = []

    async def end(log):
        log.append("message_stop", {"stop_reason": "end_turn"})
        await event_logs.flush(log)
        written_when_returned.append(len(redis_client.xrange(redis_key(log.key))))

    try:
        for log in logs:
            log.append("message_start", {"model": "m"})
        await event_logs.flush()
        pipelines = _slow_pipelines(event_logs, monkeypatch, seconds=0.05)
        await asyncio.gather(*(end(log) for log in logs))
        await event_logs.flush(logs[0])  # nothing pending: no pipeline
        flushes = len(pipelines)
    finally:
        redis_client.delete(*(redis_key(log.key) for log in logs))
        await event_logs.aclose()

    assert written_when_returned == [2] * 5  # every log's end was in Redis when its flush returned
    assert flushes == 2  # the first end's flush, then one for the four that waited behind it


async def test_a_hole_in_a_redis_log_is_answered_by_a_snapshot_never_by_a_skip(redis_client):
    answer = await _answer(
        pair=await _pair(), role="assistant", status="complete", text="abc", stop_reason="end_turn", event_seq=5
    )
    key = redis_key(engine.log_key(answer.id))
    entries = [(1, "message_start", {"model": "m"}), (2, "delta", {"text": "a"}), (4, "delta", {"text": "c"})]
    entries.append((5, "message_stop", {"stop_reason": "end_turn", "model": "m", "usage": _usage()}))
    for seq, kind, data in entries:
        redis_client.xadd(key, {"t": kind, "d": json.dumps(data)}, id=f"0-{seq}")
    try:
        events = await _read(answer.id)
    finally:
        redis_client.delete(key)

    assert_stream_contract(events)
    assert [e.event for e in events] == ["message_start", "delta", "snapshot", "message_stop"]
    assert visible_text(events) == "abc"


async def test_a_redis_log_that_never_got_its_end_does_not_hold_a_reader_once_the_record_ended(redis_client, settings):
    settings.STREAM_KEEPALIVE_SECONDS = 0.2
    answer = await _answer(
        pair=await _pair(), role="assistant", status="complete", text="ab", stop_reason="end_turn", event_seq=3
    )
    key = redis_key(engine.log_key(answer.id))
    for seq, kind, data in [(1, "message_start", {"model": "m"}), (2, "delta", {"text": "a"})]:
        redis_client.xadd(key, {"t": kind, "d": json.dumps(data)}, id=f"0-{seq}")
    try:
        events = await asyncio.wait_for(_read(answer.id), timeout=10)
    finally:
        redis_client.delete(key)

    assert_stream_contract(events)
    assert visible_text(events) == "ab"
    assert events[-1].event == "message_stop"


async def test_an_ended_log_is_kept_in_memory_until_its_events_reached_redis(settings):
    settings.STREAM_LOCAL_RETENTION_SECONDS = 0
    settings.REDIS_URL = ""  # a flush takes the events without writing them anywhere
    event_logs = EventLogs()
    log = event_logs.open("k")
    try:
        log.append("message_stop", {})

        event_logs._forget_finished()
        assert "k" in event_logs.logs  # its terminal event is not in Redis yet

        assert await event_logs.flush() == 1
        event_logs._forget_finished()
        assert "k" not in event_logs.logs
    finally:
        await event_logs.aclose()


async def test_a_flush_writes_only_the_logs_with_new_events_and_clean_up_drops_those_that_ended_long_ago(
    settings, redis_client
):
    """Finished logs stay in memory for a while; a flush and the clean-up touch only the logs
    that need it, in the order they ended, and a log dropped from the process is not written."""
    settings.STREAM_LOCAL_RETENTION_SECONDS = 60
    event_logs = EventLogs()
    keys = [f"chat:00000000-0000-0000-0000-0000000001{index:02d}" for index in range(4)]
    try:
        first, second, third, dropped = (event_logs.open(key) for key in keys)
        for log in (first, second, third, dropped):
            log.append("message_start", {"model": "m"})
        first.append("message_stop", {})
        second.append("message_stop", {})
        event_logs.logs.pop(dropped.key)
        assert await event_logs.flush() == 3
        assert await event_logs.flush() == 0  # nothing new: no log is written again

        third.append("delta", {"text": "x"})
        assert await event_logs.flush() == 1
        assert [len(redis_client.xrange(redis_key(key))) for key in keys] == [1, 1, 2, 0]
        assert event_logs._pending == {}

        event_logs._forget_finished()
        assert set(event_logs.logs) == set(keys[:3])  # ended within the retention
        first.ended_at -= 61
        event_logs._forget_finished()
        assert set(event_logs.logs) == set(keys[1:3])
        assert list(event_logs._ended) == [second]
    finally:
        redis_client.delete(*(redis_key(key) for key in keys))
        await event_logs.aclose()


async def test_a_reader_in_another_process_resumes_inside_a_flushed_batch_exactly(redis_client):
    """One flush writes a log's new events as one Redis entry; a resume from the middle of it
    gets exactly the events after its id, and `message_start` is still found for the resume."""
    event_logs = EventLogs()
    log = event_logs.open("chat:00000000-0000-0000-0000-0000000000fe")
    try:
        log.append("message_start", {"model": "m"})
        for text in "abc":
            log.append("delta", {"text": f"{text}\nline «two»"})
        log.append("message_stop", {"stop_reason": "end_turn"})
        await event_logs.flush()
        assert len(redis_client.xrange(redis_key(log.key))) == 1
        event_logs.logs.clear()  # read as another process would: from Redis only

        first = await event_logs.first_event(log.key)
        follow = Follow(position=2)
        batches = [batch async for batch in event_logs.follow(log.key, follow)]
    finally:
        redis_client.delete(redis_key(log.key))
        await event_logs.aclose()

    assert first is not None and first[:2] == (1, "message_start")
    events = [event for batch in batches if batch for event in batch]
    assert [event[:2] for event in events] == [(3, "delta"), (4, "delta"), (5, "message_stop")]
    assert [event_data(event).get("text") for event in events[:2]] == ["b\nline «two»", "c\nline «two»"]
    assert follow.ended


async def test_a_malformed_redis_entry_is_answered_like_a_hole_never_by_a_broken_stream(redis_client):
    answer = await _answer(
        pair=await _pair(), role="assistant", status="complete", text="abc", stop_reason="end_turn", event_seq=4
    )
    key = redis_key(engine.log_key(answer.id))
    redis_client.xadd(key, {"t": "message_start", "d": json.dumps({"model": "m"})}, id="0-1")
    redis_client.xadd(key, {"t": "delta\ndelta", "d": '{"text":"a"}'}, id="0-3")  # two types, one payload
    try:
        events = await _read(answer.id)
    finally:
        redis_client.delete(key)

    assert_stream_contract(events)
    assert visible_text(events) == "abc"


def test_the_flush_interval_grows_with_the_logs_a_flush_wrote_up_to_its_ceiling(settings):
    settings.STREAM_LOG_FLUSH_SECONDS = 0.05
    settings.STREAM_LOG_FLUSH_MAX_SECONDS = 0.25

    assert [flush_interval(written) for written in (0, 1, 20)] == [0.05, 0.05, 0.05]
    assert flush_interval(40) == pytest.approx(0.1)
    assert flush_interval(100) == pytest.approx(0.25)
    assert flush_interval(1000) == 0.25

    settings.STREAM_LOG_FLUSH_MAX_SECONDS = 0.01  # a ceiling below the interval never shortens it
    assert flush_interval(1000) == 0.05


async def test_the_periodic_flush_writes_many_running_logs_less_often_and_every_event_still_reaches_redis(
    redis_client, monkeypatch, settings
):
    """With 100 logs written per flush, the flusher waits STREAM_LOG_FLUSH_MAX_SECONDS, not the base
    interval, and each log's entry then carries every event appended meanwhile."""
    settings.STREAM_LOG_FLUSH_SECONDS = 0.05
    settings.STREAM_LOG_FLUSH_MAX_SECONDS = 0.2
    event_logs = EventLogs()
    waits: list[float] = []

    def recorded_interval(written):
        waits.append(flush_interval(written))
        return waits[-1]

    monkeypatch.setattr("backend.streaming.log.flush_interval", recorded_interval)
    logs = [event_logs.open(f"chat:00000000-0000-0000-0000-0000000002{n:02d}") for n in range(100)]
    try:
        for log in logs:
            log.append("message_start", {"model": "m"})
        while len(waits) < 2:  # the first wait (nothing written yet), then the one after 100 logs
            await asyncio.sleep(0.01)
        for number in range(5):  # appended within the long interval: one entry per log next time
            for log in logs:
                log.append("delta", {"text": str(number)})
        for log in logs:
            log.append("message_stop", {"stop_reason": "end_turn"})
        await event_logs.flush(logs[0])  # an answer's end writes every log's pending events
        entries = [redis_client.xrange(redis_key(log.key)) for log in logs]
    finally:
        redis_client.delete(*(redis_key(log.key) for log in logs))
        await event_logs.aclose()

    assert waits[:2] == [0.05, 0.2]
    assert all(len(log_entries) == 2 for log_entries in entries)  # start, then the rest in one entry
    seqs = [[event[SEQ] for entry in log_entries for event in _decode_entry(*entry)] for log_entries in entries]
    assert seqs == [list(range(1, 8))] * 100


async def test_a_reader_waits_for_a_new_answers_log_as_long_as_the_longest_flush_interval(redis_client, settings):
    """An answer just started in another process appears in Redis within one flush interval,
    up to STREAM_LOG_FLUSH_MAX_SECONDS under load: a reader that comes first waits that long
    (here 4 x 0.5 s) for the log instead of falling back to the stored record's snapshots."""
    settings.STREAM_LOG_FLUSH_SECONDS = 0.05
    settings.STREAM_LOG_FLUSH_MAX_SECONDS = 0.5
    answer = await _answer(pair=await _pair(), role="assistant", status="streaming")
    key = redis_key(engine.log_key(answer.id))
    entries = [(1, "message_start", {"model": "m"}), (2, "delta", {"text": "late"})]
    entries.append((3, "message_stop", {"stop_reason": "end_turn", "model": "m", "usage": _usage()}))

    async def flush_late():
        await asyncio.sleep(1.4)  # past the wait of 1 s a 0.05 s interval alone would allow
        for seq, kind, data in entries:
            redis_client.xadd(key, {"t": kind, "d": json.dumps(data)}, id=f"0-{seq}")

    writer = asyncio.ensure_future(flush_late())
    try:
        events = await asyncio.wait_for(_read(answer.id), timeout=10)
    finally:
        writer.cancel()
        redis_client.delete(key)

    assert_stream_contract(events)
    assert [e.event for e in events] == ["message_start", "delta", "message_stop"]
    assert visible_text(events) == "late"
