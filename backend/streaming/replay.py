"""A generation's events as a client reads them: live from its log, else from its stored record.

The contract (docs/streaming.md, "Event ids"):

- ids of one generation strictly increase and are never reused;
- a stream that starts after `Last-Event-ID: N` (N > 0) opens with the generation's
  `message_start` sent *without* an id (so the client's last id stays N), then gives exactly
  the events after N while the log has them;
- when no log can give the missing events (it expired, the process that wrote it died, the
  client is past its end), the client gets one `snapshot` event — "replace the text you have
  with this" — with an id past every id the generation handed out, then the terminal event;
- every stream read to its end ends with exactly one terminal event (`message_stop`/`error`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings

from backend.db import db_sync_to_async
from backend.streaming.log import TYPE, Follow, event_data, logs
from backend.streaming.sse import KEEPALIVE, encode_event, encode_payload

if TYPE_CHECKING:
    from backend.streaming.engine import Engine

STORED_POLL_SECONDS = 1.0


async def events(engine: Engine, record_id: UUID, *, after: int = 0) -> AsyncIterator[bytes]:
    """SSE bytes of `record_id`'s generation after event `after`, to its terminal event."""
    key = engine.log_key(record_id)
    started = False
    if not await logs.exists(key):
        await _wait_for_log(engine, record_id, key)
    if after > 0:
        first = await logs.first_event(key)
        if first is not None and first[TYPE] == "message_start":
            yield encode_event(None, "message_start", event_data(first))
            started = True
    follow = Follow(position=after)

    async def finished() -> bool:
        return (await db_sync_to_async(engine.stored_state)(record_id)).terminal is not None

    async for batch in logs.follow(key, follow, finished=finished):
        if batch is None:
            yield KEEPALIVE
            continue
        if not started:
            started = any(event[TYPE] == "message_start" for event in batch)
        if len(batch) == 1:  # the usual case: one event per wake-up
            seq, event_type, payload = batch[0]
            yield encode_payload(seq, event_type, payload).encode()
            continue
        # Every event that is there goes out in one write: a reader that fell behind catches up at once.
        yield "".join(encode_payload(seq, event_type, payload) for seq, event_type, payload in batch).encode()
    if follow.ended:
        return
    async for chunk in stored_events(engine, record_id, after=follow.position, started=started):
        yield chunk


async def _wait_for_log(engine: Engine, record_id: UUID, key: str) -> None:
    """A generation just started in another process may not have flushed its log to Redis yet:
    wait a few flush intervals while its record is still streaming, rather than serve snapshots."""
    if not settings.REDIS_URL:
        return
    # A log is first written within one flush interval, at most STREAM_LOG_FLUSH_MAX_SECONDS under load.
    longest = max(settings.STREAM_LOG_FLUSH_SECONDS, settings.STREAM_LOG_FLUSH_MAX_SECONDS)
    deadline = time.monotonic() + max(1.0, 4 * longest)
    while time.monotonic() < deadline:
        state = await db_sync_to_async(engine.stored_state)(record_id)
        if state.terminal is not None:
            return
        await asyncio.sleep(settings.STREAM_LOG_FLUSH_SECONDS)
        if await logs.exists(key):
            return


async def stored_events(engine: Engine, record_id: UUID, *, after: int, started: bool) -> AsyncIterator[bytes]:
    """The generation served from its record: `snapshot`s of its text, then its terminal event.

    A record still streaming (its process is alive elsewhere but its log is unreachable, or it
    died and awaits the sweeper) is polled: each change of its text is a new `snapshot`.
    """
    load = db_sync_to_async(engine.stored_state)
    state = await load(record_id)
    if not started:
        yield encode_event(None, "message_start", state.start)
    seq = max(after, state.event_seq)
    sent_text: str | None = None
    last_output = time.monotonic()
    while True:
        if state.text != sent_text:
            seq += 1
            yield encode_event(seq, "snapshot", {"text": state.text})
            sent_text = state.text
            last_output = time.monotonic()
        if state.terminal is not None:
            yield encode_event(seq + 1, *state.terminal)
            return
        if time.monotonic() - last_output >= settings.STREAM_KEEPALIVE_SECONDS:
            yield KEEPALIVE
            last_output = time.monotonic()
        await asyncio.sleep(STORED_POLL_SECONDS)
        state = await load(record_id)
