"""Reading Server-Sent Events in tests, as a client of docs/streaming.md would.

`parse_sse` turns a line stream into events; `visible_text` is the text an appending client
shows (`delta` appends, `snapshot` replaces); `assert_stream_contract` checks the invariants
every stream must hold: it opens with `message_start`, its ids strictly increase (the
`message_start` opening a resumed stream carries none), and exactly one terminal event ends it.
`stream_events` reads one whole SSE response from a live server (tests/e2e/live.py), `headers`
authenticates such a request with a token, and `stream_in_background` reads one on a thread
while the test acts on the running generation (stops it, for example).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

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


class _Server(Protocol):
    url: str


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", **extra}


def stream_events(
    live: _Server, method: str, path: str, token: str, *, json_body: Any = None, extra_headers: dict | None = None
) -> list[SSEEvent]:
    """Every event of one SSE response, to its end."""
    request_headers = headers(token, **(extra_headers or {}))
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream(method, path, json=json_body, headers=request_headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))


@dataclass
class BackgroundStream:
    """An SSE response read on its own thread (see `stream_in_background`)."""

    thread: threading.Thread
    first_delta: threading.Event = field(default_factory=threading.Event)
    events: list[SSEEvent] = field(default_factory=list)

    @property
    def start(self) -> dict[str, Any]:
        """The `message_start` data: the ids of the generation."""
        return self.events[0].data

    def wait_for_first_delta(self, timeout: float = 10) -> bool:
        return self.first_delta.wait(timeout)

    def join(self, timeout: float = 10) -> list[SSEEvent]:
        """Every event read, once the stream has ended."""
        self.thread.join(timeout)
        return self.events


def stream_in_background(
    live: _Server, method: str, path: str, token: str, *, json_body: Any = None
) -> BackgroundStream:
    """Start reading one SSE response on a thread; `first_delta` is set when the first delta arrived."""
    stream = BackgroundStream(
        thread=threading.Thread(target=lambda: _read_into(stream, live, method, path, token, json_body))
    )
    stream.thread.start()
    return stream


def _read_into(stream: BackgroundStream, live: _Server, method: str, path: str, token: str, json_body: Any) -> None:
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream(method, path, json=json_body, headers=headers(token)) as response,
    ):
        for event in parse_sse(response.iter_lines()):
            stream.events.append(event)
            if event.event == "delta":
                stream.first_delta.set()
