"""Streaming through backend.llm over the real protocol: aiobotocore/boto3 → emulator over HTTP."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from backend.llm import service
from backend.llm.emulator.accounting import count_input
from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.models import LLMCall
from backend.llm.registry import get_registry
from backend.llm.types import StopReason, StreamStart, StreamStop, TextDelta
from tests.backend.llm.helpers import PRIMARY, make_request

pytestmark = pytest.mark.django_db(transaction=True)


async def collect(request):
    events = [event async for event in service.astream(request)]
    return events


async def test_async_stream_text_and_usage_are_exact(emulator):
    prompt = "Tell me about tides [[emu:tokens=25]]"

    events = await collect(make_request(prompt))

    assert isinstance(events[0], StreamStart)
    assert events[0].model_id == PRIMARY
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert text == "".join(default_reply_tokens(strip_directives(prompt), 25))
    stop = events[-1]
    assert isinstance(stop, StreamStop)
    assert stop.stop_reason is StopReason.END_TURN
    recorded = emulator.requests()[-1]
    assert stop.usage.input_tokens == count_input(recorded["body"]).tokens
    assert stop.usage.output_tokens == 25
    assert stop.usage.estimated is False
    assert stop.model_id == PRIMARY


async def test_exact_reply_text_survives_the_round_trip(emulator):
    reply = "Line one,\n  indented «unicode» — and emoji 🌊."

    events = await collect(make_request(f"[[emu:reply={reply}]]"))

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == reply


async def test_deltas_arrive_incrementally(emulator):
    arrivals = []
    async for event in service.astream(make_request("[[emu:tokens=20]] [[emu:delay_ms=50]]")):
        if isinstance(event, TextDelta):
            arrivals.append(time.monotonic())

    assert len(arrivals) == 20
    # 19 gaps of 50 ms: the first delta must not wait for the whole answer.
    assert arrivals[-1] - arrivals[0] > 0.8


async def test_every_call_writes_one_usage_record(emulator):
    events = await collect(make_request("[[emu:tokens=10]] hi"))

    stop = events[-1]
    call = await LLMCall.objects.aget(reference="test:1")
    assert call.model_id == PRIMARY
    assert call.status == "ok"
    assert call.streamed is True
    assert call.output_tokens == 10
    assert call.input_tokens == stop.usage.input_tokens
    assert call.first_token_ms is not None
    expected_cost = get_registry().model(PRIMARY).cost(stop.usage)
    assert call.cost == expected_cost > Decimal(0)
    assert call.attempts == []


def test_sync_stream_gives_the_same_answer(emulator):
    prompt = "Sync please [[emu:tokens=12]]"

    events = list(service.stream(make_request(prompt)))

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "".join(default_reply_tokens(strip_directives(prompt), 12))
    assert isinstance(events[-1], StreamStop)
    assert events[-1].usage.output_tokens == 12
    assert LLMCall.objects.filter(status="ok", streamed=True).count() == 1


async def test_max_tokens_stops_the_answer_with_max_tokens(emulator):
    events = await collect(make_request("[[emu:tokens=50]]", max_tokens=5))

    assert events[-1].stop_reason is StopReason.MAX_TOKENS
    assert events[-1].usage.output_tokens == 5


async def test_closing_the_stream_early_closes_upstream_and_records_cancelled(emulator):
    stream = service.astream(make_request("[[emu:tokens=200]] [[emu:delay_ms=20]]"))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()

    call = await LLMCall.objects.aget(reference="test:1")
    assert call.status == "cancelled"
    assert call.output_tokens >= 1
