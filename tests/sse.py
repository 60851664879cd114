"""Reading Server-Sent Events in tests, as a client of docs/streaming.md would.

`parse_sse` turns a line stream into events; `visible_text` is the text an appending client
shows (`delta` appends, `snapshot` replaces); `assert_stream_contract` checks the invariants
every stream must hold: it opens with `message_start`, its ids strictly increase (the
`message_start` opening a resumed stream carries none), and exactly one terminal event ends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

TERMINAL = {"message_stop", "error"}


@dataclass
class SSEEvent:
    id: int | None
    event: str
    data: dict[str, Any]


def parse_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Events from an SSE line stream (comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields:
                event_id = int(fields["id"]) if "id" in fields else None
                yield SSEEvent(id=event_id, event=fields["event"], data=json.loads(fields["data"]))
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def visible_text(events: Iterable[SSEEvent], text: str = "") -> str:
    """The text a client shows after applying `events` to `text` (deltas append, snapshots replace)."""
    for event in events:
        if event.event == "delta":
            text += event.data["text"]
        elif event.event == "snapshot":
            text = event.data["text"]
    return text


def deltas(events: Iterable[SSEEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "delta")


def ids(events: Iterable[SSEEvent]) -> list[int]:
    return [e.id for e in events if e.id is not None]


def assert_stream_contract(events: list[SSEEvent], *, after: int = 0) -> None:
    """The invariants of one stream read to its end (`after`: the Last-Event-ID it resumed from)."""
    assert events, "an empty stream"
    assert events[0].event == "message_start", [e.event for e in events]
    if after > 0:
        assert events[0].id is None, "a resumed stream's message_start carries no id"
    assert [e.event for e in events].count("message_start") == 1
    numbered = ids(events)
    assert all(b > a for a, b in zip([after, *numbered], numbered, strict=False)), numbered
    assert [e.event in TERMINAL for e in events].count(True) == 1, [e.event for e in events]
    assert events[-1].event in TERMINAL
