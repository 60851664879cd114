"""`Run.stream`: the first token reaches the readers before the rest of an upstream burst is parsed."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from backend.llm import usage
from backend.llm.models import LLMCall
from backend.llm.types import CallContext, StopReason, StreamStart, StreamStop, TextDelta, Usage
from backend.llm.usage import UsageRecord
from backend.streaming import engine as engine_module
from backend.streaming.engine import Admission, Run
from backend.streaming.log import LocalLog
from chat.services.generation import engine


def test_readers_get_the_first_token_before_the_run_parses_the_rest_of_a_burst(monkeypatch):
    async def burst(request, *, report=None):  # everything already delivered: no await in between
        yield StreamStart(model_id="m", alias="pair")
        for word in ("one ", "two ", "three ", "four "):
            yield TextDelta(word)
        yield StreamStop(stop_reason=StopReason.END_TURN, usage=Usage(), model_id="m", cost=Decimal(0), latency_ms=1)

    monkeypatch.setattr(engine_module.llm, "astream", burst)
    record_id = uuid.uuid4()
    run = Run(engine=engine, record_id=record_id, admission=Admission(record_id=record_id), log=LocalLog(key="t"))

    async def main() -> int:
        async def reader() -> int:  # another task on the loop, as a client's stream is
            while not run.text_parts:
                await asyncio.sleep(0)
            return len(run.text_parts)

        watching = asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        await run.stream(request=None)  # type: ignore[arg-type]
        return await watching

    assert asyncio.run(main()) == 1  # without the yield it saw all four
    assert run.text == "one two three four "


@pytest.mark.django_db(transaction=True)
def test_a_calls_held_ledger_row_is_written_before_its_tools_run_or_before_the_next_call(monkeypatch):
    written_at_call: list[list[str]] = []
    stops = iter([StopReason.TOOL_USE, StopReason.END_TURN, StopReason.END_TURN, StopReason.END_TURN])

    async def one_call(request, *, report=None):
        references = await asyncio.to_thread(lambda: sorted(LLMCall.objects.values_list("reference", flat=True)))
        written_at_call.append(references)
        yield StreamStart(model_id="m", alias="pair")
        yield TextDelta("text ")
        context = CallContext(reference=f"call-{len(written_at_call)}")
        await usage.arecord_usage(UsageRecord(context=context, alias="pair", model_id="m", streamed=True))
        yield StreamStop(stop_reason=next(stops), usage=Usage(), model_id="m", cost=Decimal(0), latency_ms=1)

    monkeypatch.setattr(engine_module.llm, "astream", one_call)
    record_id = uuid.uuid4()
    run = Run(engine=engine, record_id=record_id, admission=Admission(record_id=record_id), log=LocalLog(key="t"))

    async def written() -> list[str]:
        return await asyncio.to_thread(lambda: sorted(LLMCall.objects.values_list("reference", flat=True)))

    async def generation() -> tuple[list[str], list[str], list[UsageRecord]]:
        run.held_usage = usage.hold_usage()  # as the engine's task does
        await run.stream(request=None)  # type: ignore[arg-type]  # asks for a tool
        after_tool_call = await written()  # tools run now: the row is written already
        await run.stream(request=None)  # type: ignore[arg-type]  # ends its turn: held
        after_second = await written()
        await run.stream(request=None)  # type: ignore[arg-type]  # another call (an adapter's next phase)
        return after_tool_call, after_second, run.held_usage.close()  # what the terminal write would take

    after_tool_call, after_second, held = asyncio.run(generation())

    assert after_tool_call == ["call-1"]
    assert after_second == ["call-1"]  # held for the terminal write
    assert written_at_call == [[], ["call-1"], ["call-1", "call-2"]]  # written before the next call
    assert [record.context.reference for record in held] == ["call-3"]
