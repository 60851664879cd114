"""`Run.stream`: the first token reaches the readers before the rest of an upstream burst is parsed."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from backend.llm.types import StopReason, StreamStart, StreamStop, TextDelta, Usage
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
