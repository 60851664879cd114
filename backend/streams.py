"""Per-generation event logs: live fan-out in the process, durable replay through Redis.

A generation appends numbered events (1, 2, 3, …) to its log; readers follow the log from any
sequence number, so a client that lost its connection resumes exactly where it left off.

- `LocalLog` lives in the process that runs the generation. Readers in that process (the
  usual case: the POST that started it) are woken directly, with no I/O per token.
- With Redis configured (`REDIS_URL`), every event is also written to a Redis Stream
  (batched: one pipeline per flush interval, not one round trip per token) that expires
  `STREAM_LOG_TTL` seconds after the generation ends. A reader in another process, or after
  this process restarted, follows the Redis Stream.
- Without Redis (the embedded default: one process), the local log is the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    type: str
    data: dict[str, Any]


TERMINAL_EVENTS = frozenset({"message_stop", "error"})


@dataclass
class LocalLog:
    """The in-process log of one generation."""

    key: str
    events: list[Event] = field(default_factory=list)
    ended: bool = False
    ended_at: float = 0.0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _unflushed: list[Event] = field(default_factory=list)

    def append(self, event_type: str, data: dict[str, Any]) -> Event:
        event = Event(seq=len(self.events) + 1, type=event_type, data=data)
        self.events.append(event)
        self._unflushed.append(event)
        if event_type in TERMINAL_EVENTS:
            self.ended = True
            self.ended_at = time.monotonic()
        # Wake every waiting reader, then re-arm for the next append.
        self._changed.set()
        self._changed = asyncio.Event()
        return event

    def take_unflushed(self) -> list[Event]:
        events, self._unflushed = self._unflushed, []
        return events

    async def follow(self, after: int, keepalive: float) -> AsyncIterator[Event | None]:
        """Events after `after`, live; yields None when `keepalive` seconds pass without one."""
        position = after
        while True:
            while position < len(self.events):
                event = self.events[position]
                position += 1
                yield event
                if event.type in TERMINAL_EVENTS:
                    return
            if self.ended:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=keepalive)
            except TimeoutError:
                yield None


class StreamRegistry:
    """The process's live logs, their Redis mirror, and the flusher that writes it."""

    def __init__(self) -> None:
        self.logs: dict[str, LocalLog] = {}
        self._redis: Any = None
        self._redis_loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None

    # --- Redis -------------------------------------------------------------------------

    def _redis_client(self) -> Any:
        if not settings.REDIS_URL:
            return None
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis_loop is not loop:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
            self._redis_loop = loop
        return self._redis

    @staticmethod
    def _redis_key(key: str) -> str:
        return f"{settings.CACHES['default'].get('KEY_PREFIX', 'aia')}:stream:{key}"

    # --- Writing -------------------------------------------------------------------------

    def open(self, key: str) -> LocalLog:
        log = LocalLog(key=key)
        self.logs[key] = log
        self._ensure_flusher()
        return log

    def _ensure_flusher(self) -> None:
        loop = asyncio.get_running_loop()
        if self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_forever(), name="stream-log-flusher")

    async def _flush_forever(self) -> None:
        interval = settings.STREAM_LOG_FLUSH_SECONDS
        while self.logs:
            await asyncio.sleep(interval)
            await self.flush()
            self._forget_finished()

    async def flush(self) -> None:
        """Write every log's new events to Redis in one pipeline."""
        redis = self._redis_client()
        if redis is None:
            for log in self.logs.values():
                log.take_unflushed()
            return
        pipeline = redis.pipeline(transaction=False)
        pending = False
        for log in list(self.logs.values()):
            events = log.take_unflushed()
            if not events:
                continue
            pending = True
            redis_key = self._redis_key(log.key)
            for event in events:
                pipeline.xadd(
                    redis_key,
                    {"t": event.type, "d": json.dumps(event.data, separators=(",", ":"))},
                    id=f"0-{event.seq}",
                )
            if log.ended:
                pipeline.expire(redis_key, settings.STREAM_LOG_TTL)
            else:
                pipeline.expire(redis_key, settings.STREAM_LOG_TTL + 3600)
        if pending:
            try:
                await pipeline.execute()
            except Exception:  # the live readers still have every event; only remote resume degrades
                logger.warning("could not write stream events to Redis", exc_info=True)

    def _forget_finished(self) -> None:
        """Drop local logs some time after they ended (late local readers get the Redis copy)."""
        horizon = time.monotonic() - settings.STREAM_LOCAL_RETENTION_SECONDS
        for key in [key for key, log in self.logs.items() if log.ended and log.ended_at < horizon]:
            del self.logs[key]

    # --- Reading -------------------------------------------------------------------------

    async def follow(self, key: str, after: int) -> AsyncIterator[Event | None]:
        """Every event of `key` after `after`, from the local log if it is here, else from Redis.

        Yields None as a keep-alive tick. Ends after a terminal event, or at once when no log
        is known (the caller then falls back to the stored message).
        """
        keepalive = settings.STREAM_KEEPALIVE_SECONDS
        local = self.logs.get(key)
        if local is not None:
            async for event in local.follow(after, keepalive):
                yield event
            return
        redis = self._redis_client()
        if redis is None:
            return
        redis_key = self._redis_key(key)
        position = after
        while True:
            try:
                response = await redis.xread({redis_key: f"0-{position}"}, block=int(keepalive * 1000), count=500)
            except Exception:
                logger.warning("could not read stream events from Redis", exc_info=True)
                return
            if not response:
                if not await redis.exists(redis_key):
                    return
                yield None
                continue
            for entry_id, fields in response[0][1]:
                position = int(entry_id.decode().split("-")[1])
                event = Event(seq=position, type=fields[b"t"].decode(), data=json.loads(fields[b"d"]))
                yield event
                if event.type in TERMINAL_EVENTS:
                    return

    async def aclose(self) -> None:
        await self.flush()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


registry = StreamRegistry()


def append_terminal_sync(key: str, event_type: str, data: dict[str, Any]) -> None:
    """Close a log whose generation died (called by the sweeper, from sync code).

    Appends one terminal event after the last one in Redis, so remote followers stop waiting.
    Without Redis there is nothing to do: a local log died with its process.
    """
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        redis_key = StreamRegistry._redis_key(key)
        last = client.xrevrange(redis_key, count=1)
        if not last:
            return
        last_id = last[0][0]
        seq = int((last_id.decode() if isinstance(last_id, bytes) else str(last_id)).split("-")[1]) + 1
        client.xadd(redis_key, {"t": event_type, "d": json.dumps(data, separators=(",", ":"))}, id=f"0-{seq}")
        client.expire(redis_key, settings.STREAM_LOG_TTL)
    except Exception:  # the database already holds the terminal state; followers fall back to it
        logger.warning("could not close the event log of %s", key, exc_info=True)
    finally:
        client.close()
