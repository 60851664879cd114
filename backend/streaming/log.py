"""Per-generation event logs: live fan-out in the process, durable replay through Redis.

A generation appends numbered events (1, 2, 3, ...) to its log; readers follow the log from any
sequence number, so a client that lost its connection resumes exactly where it left off.

- `LocalLog` lives in the process that runs the generation. Readers in that process (the
  usual case: the POST that started it) are woken directly, with no I/O per token.
- With Redis configured (`REDIS_URL`), every event is also written to a Redis Stream
  (batched: one pipeline per flush interval, not one round trip per token) that expires
  `STREAM_LOG_TTL` seconds after the generation ends. A reader in another process, or after
  this process restarted, follows the Redis Stream.
- Without Redis (the embedded default: one process), the local log is the whole story.

A follow ends in one of two ways: it delivered the terminal event (`Follow.ended`), or there is
no log that can take the reader further — none was ever here, it expired, Redis stayed
unreachable, or the reader is already at or past the log's end. The caller then serves the
generation's stored record instead (`backend.streaming.replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings

from backend.streaming.sse import encode_json

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"message_stop", "error"})

# Sequence numbers skipped before the events the sweeper writes for a dead generation. Events the
# dead process handed to its clients but never wrote to Redis (at most one flush interval's worth)
# stay below the gap, so the sweeper's `snapshot` and terminal event always come after them.
ORPHAN_SEQ_GAP = 10_000

# A running generation's Redis log expires RUNNING_TTL_MARGIN seconds after STREAM_LOG_TTL unless
# its expiry is written again; the flusher rewrites it every EXPIRY_REFRESH_SECONDS.
RUNNING_TTL_MARGIN = 3600
EXPIRY_REFRESH_SECONDS = 600

# The flush interval stays STREAM_LOG_FLUSH_SECONDS while a flush writes at most this many logs,
# and grows in proportion beyond (up to STREAM_LOG_FLUSH_MAX_SECONDS): see `flush_interval`.
LOGS_PER_FLUSH = 20


# An event: (seq, type, payload), `payload` being its data as JSON, encoded once when the event
# is appended (the SSE frames and the Redis mirror both send these bytes).
#
# A plain tuple of a number and strings, not a class and without the data's dict: a process
# keeps every event of its running answers and of the last STREAM_LOCAL_RETENTION_SECONDS of
# finished ones (~100,000 under a thousand streams). The garbage collector stops tracking an
# exact tuple of numbers and strings the first time it sees it; a dataclass, a named tuple or a
# tuple holding a dict stays tracked, and every full collection, which stops the event loop,
# walks it again. As dataclasses they were most of the 135,000-165,000 objects those walks
# scanned under the 1,000-stream load (docs/benchmarks.md, eleventh and twelfth recordings).
Event = tuple[int, str, str]
SEQ: Final = 0
TYPE: Final = 1
PAYLOAD: Final = 2


def event_data(event: Event) -> dict[str, Any]:
    """The event's data (decoded from its payload: for the rare reader that needs the fields)."""
    data: dict[str, Any] = json.loads(event[PAYLOAD])
    return data


@dataclass(slots=True)
class Follow:
    """Where a reader got to: the last sequence number it was given, and whether that ended the log."""

    position: int
    ended: bool = False


@dataclass
class LocalLog:
    """The in-process log of one generation."""

    key: str
    events: list[Event] = field(default_factory=list)
    ended: bool = False
    ended_at: float = 0.0
    # Each waiting reader has a future that `append` resolves (True). Keep-alive ticks come from
    # one timer per log, armed while readers wait: it resolves them with False once the log has
    # been quiet for the keep-alive interval. A token costs no timer and no task.
    _waiters: list[asyncio.Future[bool]] = field(default_factory=list)
    _tick: asyncio.TimerHandle | None = None
    _quiet_since: float = field(default_factory=time.monotonic)
    _unflushed: list[Event] = field(default_factory=list)
    # When the Redis copy's expiry was last written (monotonic seconds; 0: never).
    expiry_written_at: float = 0.0
    # The `EventLogs` that opened this log: told when the log gets events to write and when it ends,
    # so that a flush and the clean-up touch those logs only, not every log the process keeps.
    _owner: EventLogs | None = field(default=None, repr=False, compare=False)

    @property
    def last_seq(self) -> int:
        return len(self.events)

    def append(self, event_type: str, data: dict[str, Any]) -> Event:
        event = (len(self.events) + 1, event_type, encode_json(data))
        self.events.append(event)
        if not self._unflushed and self._owner is not None:
            self._owner._pending[id(self)] = self
        self._unflushed.append(event)
        if event_type in TERMINAL_EVENTS:
            self.ended = True
            self.ended_at = time.monotonic()
            if self._owner is not None:
                self._owner._ended.append(self)
        self._quiet_since = time.monotonic()
        self._wake(True)
        return event

    def _wake(self, appended: bool) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(appended)

    def _wait(self, keepalive: float) -> asyncio.Future[bool]:
        """A future that resolves at the next append (True) or once the log was quiet for
        `keepalive` seconds (False). Cancelling it (the reader left) touches no other reader."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        if self._tick is None:
            self._tick = loop.call_later(keepalive, self._on_tick, keepalive)
        return waiter

    def _on_tick(self, keepalive: float) -> None:
        self._tick = None
        self._waiters = [waiter for waiter in self._waiters if not waiter.done()]
        if not self._waiters:
            return
        quiet = time.monotonic() - self._quiet_since
        if quiet >= keepalive * 0.999:
            self._quiet_since = time.monotonic()
            self._wake(False)
        else:
            self._tick = asyncio.get_running_loop().call_later(keepalive - quiet, self._on_tick, keepalive)

    def take_unflushed(self) -> list[Event]:
        events, self._unflushed = self._unflushed, []
        return events

    async def follow(self, follow: Follow, keepalive: float) -> AsyncIterator[list[Event] | None]:
        """Events after `follow.position`, live, in batches of all that are there when the reader
        asks (a reader that fell behind catches up in one write); None when `keepalive` seconds
        pass without one."""
        if follow.position > len(self.events):
            return  # the reader claims events this log never had: let the stored record answer
        if self.ended and follow.position >= len(self.events):
            return  # the reader already has the terminal event
        while True:
            if follow.position < len(self.events):
                batch = self.events[follow.position :]
                for index, event in enumerate(batch):
                    if event[TYPE] in TERMINAL_EVENTS:
                        batch = batch[: index + 1]
                        follow.ended = True
                        break
                follow.position = batch[-1][SEQ]
                yield batch
                if follow.ended:
                    return
                continue
            if not await self._wait(keepalive):
                yield None


def _decode_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> list[Event]:
    """The events of one Redis Stream entry (see `_encode_fields`)."""
    raw_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    last = int(raw_id.split("-")[1])
    types, payloads = fields[b"t"].decode().split("\n"), fields[b"d"].decode().split("\n")
    first = int(fields[b"f"]) if b"f" in fields else last
    if len(types) != len(payloads) or first + len(types) - 1 != last:
        raise ValueError(f"malformed stream log entry {raw_id}")
    return [
        (first + offset, event_type, payload)
        for offset, (event_type, payload) in enumerate(zip(types, payloads, strict=True))
    ]


def _encode_fields(events: list[Event]) -> dict[Any, Any]:
    """One Redis Stream entry holding consecutive events; its id is the last event's `0-seq`.

    A single event is `{t: type, d: payload}`; several are their types and payloads joined by
    newlines (a JSON payload from `encode_json` never holds a raw newline), with `f`, the first
    event's seq. One entry per log and flush instead of one per event: a command per flush.
    """
    if len(events) == 1:
        return {"t": events[0][TYPE], "d": events[0][PAYLOAD]}
    return {
        "t": "\n".join(event[TYPE] for event in events),
        "d": "\n".join(event[PAYLOAD] for event in events),
        "f": events[0][SEQ],
    }


def redis_key(key: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'aia')}:stream:{key}"


def flush_interval(written: int) -> float:
    """Seconds until the next flush, after one that wrote `written` logs.

    Each log with new events is one XADD per flush. At 20 ms per token and a 50 ms interval,
    a command carried 2 or 3 events; at 80 ms per event, barely one: the mirror cost a Redis
    command per token. Stretching the interval with the number of running generations keeps
    the commands per second near LOGS_PER_FLUSH / STREAM_LOG_FLUSH_SECONDS (400) until the
    ceiling, so each carries more events as streams are added. Live readers are not affected
    (they are woken by `append`); a reader in another process gets its events this late at
    most, and a process that dies loses at most this much of its log's Redis copy (covered by
    ORPHAN_SEQ_GAP).
    """
    base = settings.STREAM_LOG_FLUSH_SECONDS
    ceiling = max(base, settings.STREAM_LOG_FLUSH_MAX_SECONDS)
    return min(ceiling, max(base, base * written / LOGS_PER_FLUSH))


class EventLogs:
    """The process's live logs, their Redis mirror, and the flusher that writes it."""

    # A follower on Redis retries a failed read this many times (one keep-alive apart) before
    # giving up on the log and serving the stored record.
    READ_RETRIES = 3

    def __init__(self) -> None:
        self.logs: dict[str, LocalLog] = {}
        # The logs with events not yet written to Redis, and the ended logs in the order they ended:
        # a finished log stays in `logs` for STREAM_LOCAL_RETENTION_SECONDS (thousands of them at a
        # hundred answers a second), and neither a flush nor the clean-up walks through those.
        self._pending: dict[int, LocalLog] = {}
        self._ended: deque[LocalLog] = deque()
        self._redis: Any = None
        self._redis_loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        # One flush at a time: two pipelines in flight could reach Redis out of order, and a
        # stream refuses an id at or below its last one (those events would be lost to resumes).
        self._flush_lock: asyncio.Lock | None = None
        self._flush_lock_loop: asyncio.AbstractEventLoop | None = None

    # --- Redis -------------------------------------------------------------------------

    def _redis_client(self) -> Any:
        if not settings.REDIS_URL:
            return None
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis_loop is not loop:
            import redis.asyncio as aioredis

            # Blocking reads wait up to one keep-alive interval: the socket must outlast them.
            self._redis = aioredis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=settings.STREAM_KEEPALIVE_SECONDS + 10,
                socket_connect_timeout=2,
            )
            self._redis_loop = loop
        return self._redis

    # --- Writing -------------------------------------------------------------------------

    def open(self, key: str) -> LocalLog:
        log = LocalLog(key=key, _owner=self)
        self.logs[key] = log
        self._ensure_flusher()
        return log

    def discard(self, log: LocalLog) -> None:
        """Forget `log` at once (its generation was abandoned before it was written): nothing of
        it is written to Redis from now on, and no reader here finds it."""
        if self.logs.get(log.key) is log:
            del self.logs[log.key]

    def _ensure_flusher(self) -> None:
        loop = asyncio.get_running_loop()
        if self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_forever(), name="stream-log-flusher")

    async def _flush_forever(self) -> None:
        written = 0
        while self.logs:
            await asyncio.sleep(flush_interval(written))
            written = await self.flush()
            self._forget_finished()

    async def flush(self, log: LocalLog | None = None) -> int:
        """Write every log's new events to Redis in one pipeline (one flush at a time).

        With `log`, the caller only needs that log's events written: when the flush it waited
        for (another caller's, or the periodic one) already took them, it returns without a
        pipeline of its own. Answers that end together share one pipeline instead of queueing
        one each behind the lock. Returns how many logs this call wrote (or, without Redis,
        would have written).
        """
        loop = asyncio.get_running_loop()
        if self._flush_lock is None or self._flush_lock_loop is not loop:
            self._flush_lock, self._flush_lock_loop = asyncio.Lock(), loop
        if log is not None and not log._unflushed and not self._flush_lock.locked():
            return 0  # nothing of its own pending, and no flush in flight holds its events
        async with self._flush_lock:
            if log is not None and not log._unflushed:
                return 0  # the flush that held the lock wrote them
            return await self._flush()

    def _take_pending(self) -> list[LocalLog]:
        """The logs with events to write, forgotten as pending (their events are taken next).

        A log no longer in `logs` (dropped, or replaced by one opened under the same key) is not
        written: its events are dropped with it.
        """
        pending, self._pending = self._pending, {}
        current = []
        for log in pending.values():
            if self.logs.get(log.key) is log:
                current.append(log)
            else:
                log.take_unflushed()
        return current

    async def _flush(self) -> int:
        redis = self._redis_client()
        if redis is None:
            return sum(bool(log.take_unflushed()) for log in self._take_pending())
        pipeline = redis.pipeline(transaction=False)
        written = 0
        expiring: list[LocalLog] = []
        now = time.monotonic()
        for log in self._take_pending():
            events = log.take_unflushed()
            if not events:
                continue
            written += 1
            key = redis_key(log.key)
            pipeline.xadd(key, _encode_fields(events), id=f"0-{events[-1][SEQ]}")
            # The expiry is written with the first events, with the terminal event, and then
            # every EXPIRY_REFRESH_SECONDS of a long generation — not with every flush (that
            # doubled the commands per token).
            if log.ended or now - log.expiry_written_at >= EXPIRY_REFRESH_SECONDS or not log.expiry_written_at:
                pipeline.expire(
                    key, settings.STREAM_LOG_TTL if log.ended else settings.STREAM_LOG_TTL + RUNNING_TTL_MARGIN
                )
                log.expiry_written_at = now
                expiring.append(log)
        if written:
            try:
                await pipeline.execute()
            except Exception:  # the live readers still have every event; only remote resume degrades
                logger.warning("could not write stream events to Redis", exc_info=True)
                for log in expiring:
                    log.expiry_written_at = 0.0  # written with the next flush
        return written

    def _forget_finished(self) -> None:
        """Drop local logs some time after they ended (late local readers get the Redis copy).

        Never one with events not yet written to Redis: its terminal event would be lost to
        every reader in another process.
        """
        horizon = time.monotonic() - settings.STREAM_LOCAL_RETENTION_SECONDS
        ended = self._ended
        while ended and ended[0].ended_at < horizon and not ended[0]._unflushed:
            log = ended.popleft()
            if self.logs.get(log.key) is log:
                del self.logs[log.key]

    # --- Reading -------------------------------------------------------------------------

    async def exists(self, key: str) -> bool:
        """Whether `key`'s log can be read here (in this process, or in Redis)."""
        if key in self.logs:
            return True
        redis = self._redis_client()
        if redis is None:
            return False
        try:
            return bool(await redis.exists(redis_key(key)))
        except Exception:
            logger.warning("could not read stream events from Redis", exc_info=True)
            return False

    async def first_event(self, key: str) -> Event | None:
        """The log's first event (a generation's `message_start`), if the log can be read."""
        local = self.logs.get(key)
        if local is not None:
            return local.events[0] if local.events else None
        redis = self._redis_client()
        if redis is None:
            return None
        try:
            entries = await redis.xrange(redis_key(key), count=1)
            first = _decode_entry(*entries[0])[0] if entries else None
        except Exception:  # Redis unreachable, or an entry this code did not write
            logger.warning("could not read stream events from Redis", exc_info=True)
            return None
        return first if first is not None and first[SEQ] == 1 else None

    def follow(
        self, key: str, follow: Follow, *, finished: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[list[Event] | None]:
        """Every event of `key` after `follow.position`, in order and in batches, from the local
        log if it is here, else Redis.

        Yields None as a keep-alive tick. Ends after a terminal event (`follow.ended`), or when no
        log can take the reader further (the caller then serves the stored record). `finished`
        is asked while a Redis log is idle: when the generation has ended but its log did not
        say so (its process died before writing its last events), following stops.
        """
        keepalive = settings.STREAM_KEEPALIVE_SECONDS
        local = self.logs.get(key)
        if local is not None:
            return local.follow(follow, keepalive)  # the local log's own iterator: no layer per event
        return self._follow_redis(redis_key(key), follow, keepalive, finished)

    async def _follow_redis(
        self,
        key: str,
        follow: Follow,
        keepalive: float,
        finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[list[Event] | None]:
        redis = self._redis_client()
        if redis is None:
            return
        failures = 0
        if not await self._has_more(redis, key, follow.position):
            return
        while True:
            try:
                response = await redis.xread({key: f"0-{follow.position}"}, block=int(keepalive * 1000), count=500)
            except Exception:
                failures += 1
                logger.warning("could not read stream events from Redis (try %d)", failures, exc_info=True)
                if failures > self.READ_RETRIES:
                    return
                yield None
                await asyncio.sleep(min(keepalive, 1.0))
                continue
            failures = 0
            if not response:
                if not await self._has_more(redis, key, follow.position):
                    return
                if finished is not None and await finished():
                    return  # the record has ended, the log never will: the stored record answers
                yield None
                continue
            batch: list[Event] = []
            hole = False
            for entry_id, fields in response[0][1]:
                try:
                    events = _decode_entry(entry_id, fields)
                except (KeyError, ValueError):  # not an entry this code wrote: as good as a hole
                    logger.warning("malformed stream log entry %r in %s", entry_id, key)
                    hole = True
                    break
                for event in events:
                    seq = event[SEQ]
                    if seq <= follow.position:
                        continue  # an entry begun before the reader's position
                    if seq != follow.position + 1:
                        # A hole (events lost with a dead process, or a log evicted and begun again):
                        # the exact suffix cannot be given, so the stored record answers instead.
                        hole = True
                        break
                    follow.position = seq
                    batch.append(event)
                    if event[TYPE] in TERMINAL_EVENTS:
                        follow.ended = True
                        break
                if hole or follow.ended:
                    break
            if batch:
                yield batch
            if hole or follow.ended:
                return

    @staticmethod
    async def _has_more(redis: Any, key: str, position: int) -> bool:
        """False when the log is gone, or has ended at or before `position` (nothing more will come)."""
        try:
            last = await redis.xrevrange(key, count=1)
        except Exception:
            logger.warning("could not read stream events from Redis", exc_info=True)
            return False
        if not last:
            return False
        try:
            event = _decode_entry(*last[0])[-1]
        except (KeyError, ValueError):
            logger.warning("malformed stream log entry at the end of %s", key)
            return False
        return not (event[TYPE] in TERMINAL_EVENTS and event[SEQ] <= position)

    async def aclose(self) -> None:
        await self.flush()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


logs = EventLogs()


def close_orphaned_log(key: str, *, after_seq: int, events: list[tuple[str, dict[str, Any]]]) -> int:
    """End the Redis log of a generation whose process died (sync: called by the sweeper).

    Appends `events` (a `snapshot` of the stored text, then the terminal event) with ids past
    everything the dead process can have handed out, so that followers stop waiting and every
    reader ends with the stored text. Returns the id of the last event written (0 when there was
    no log: readers then go to the stored record directly). Without Redis there is nothing to
    do: a local log died with its process.
    """
    if not settings.REDIS_URL:
        return 0
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    key = redis_key(key)
    try:
        last = client.xrevrange(key, count=1)
        if not last:
            return 0
        seq = max(_decode_entry(*last[0])[-1][SEQ], after_seq) + ORPHAN_SEQ_GAP  # type: ignore[arg-type]
        pipeline = client.pipeline(transaction=False)
        for offset, (event_type, data) in enumerate(events):
            pipeline.xadd(key, _encode_fields([(seq + offset, event_type, encode_json(data))]), id=f"0-{seq + offset}")
        pipeline.expire(key, settings.STREAM_LOG_TTL)
        pipeline.execute()
        return seq + len(events) - 1
    except Exception:  # the database already holds the terminal state; followers fall back to it
        logger.warning("could not close the event log of %s", key, exc_info=True)
        return 0
    finally:
        client.close()
