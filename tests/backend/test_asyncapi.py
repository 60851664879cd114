"""backend.asyncapi.stored_events: serving a generation from its stored record."""

import asyncio

from backend.asyncapi import stored_events


def collect(states, after=0):
    remaining = list(states)

    async def load():
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    async def run():
        return [chunk async for chunk in stored_events(load, after, poll_seconds=0)]

    return asyncio.run(run())


def test_a_finished_record_is_one_delta_and_its_terminal_event_after_the_last_seen_id():
    chunks = collect([("whole answer", ("message_stop", {"stop_reason": "end_turn"}))], after=41)

    assert chunks == [
        b'id: 42\nevent: delta\ndata: {"text":"whole answer","replayed":true}\n\n',
        b'id: 43\nevent: message_stop\ndata: {"stop_reason":"end_turn"}\n\n',
    ]


def test_a_record_still_generating_elsewhere_is_polled_until_it_ends_sending_only_new_text():
    chunks = collect(
        [
            ("par", None),
            ("partial", None),
            ("partial text", ("error", {"code": "interrupted"})),
        ]
    )

    deltas = [chunk for chunk in chunks if b"event: delta" in chunk]
    assert [d.split(b'"text":"')[1].split(b'"')[0] for d in deltas] == [b"par", b"tial", b" text"]
    assert chunks[-1].startswith(b"id: 4\nevent: error")
    assert b": ping" in b"".join(chunks)
