"""`Run.stream`: the first token reaches the readers before the rest of an upstream burst is parsed."""

from __future__ import annotations

import asyncio
import contextlib
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


def test_a_run_abandoned_while_it_waits_between_events_closes_the_call_before_its_rows_are_taken(monkeypatch):
    """The model's stream is closed when `Run.stream` ends, not when the collector finds it:
    what the call billed is held by the run before the run's last write takes the held rows."""
    cancelled = UsageRecord(
        context=CallContext(reference="the call"), alias="pair", model_id="m", streamed=True, status="cancelled"
    )

    async def open_call(request, *, report=None):
        try:
            yield StreamStart(model_id="m", alias="pair")
            yield TextDelta("first ")
            await asyncio.Event().wait()  # the model's next event never comes
        finally:  # as `llm.astream` records a call that did not finish
            await usage.arecord_usage(cancelled)

    monkeypatch.setattr(engine_module.llm, "astream", open_call)
    record_id = uuid.uuid4()
    run = Run(engine=engine, record_id=record_id, admission=Admission(record_id=record_id), log=LocalLog(key="t"))

    async def generation() -> list[UsageRecord]:
        run.held_usage = usage.hold_usage()  # as the engine's task does
        run.gate = asyncio.get_running_loop().create_future()  # launched before its record was written
        streaming = asyncio.ensure_future(run.stream(request=None))  # type: ignore[arg-type]
        while not run.text_parts:  # the first token is in: the run waits for the write
            await asyncio.sleep(0)
        run.gate.set_result(False)  # the write failed: the run is abandoned
        with contextlib.suppress(asyncio.CancelledError):
            await streaming
        return run.held_usage.close()  # what `_abandoned` takes, with nothing run in between

    assert asyncio.run(generation()) == [cancelled]
