"""A generation holds its calls' ledger rows and writes them with its next database write."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from backend.llm import usage
from backend.llm.models import LLMCall
from backend.llm.types import CallContext, Usage
from backend.llm.usage import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


def _record(reference: str) -> UsageRecord:
    return UsageRecord(
        context=CallContext(purpose="chat", reference=reference),
        alias="default",
        model_id="m",
        streamed=True,
        usage=Usage(input_tokens=3, output_tokens=4),
        cost=Decimal("0.01"),
    )


def test_a_generation_holds_its_rows_until_it_closes_and_writes_at_once_after():
    async def generation() -> tuple[list[str], int]:
        held = usage.hold_usage()
        await usage.arecord_usage(_record("first"))
        await usage.arecord_usage(_record("second"))
        written_while_held = await asyncio.to_thread(LLMCall.objects.count)
        taken = held.close()
        await usage.arecord_usage(_record("after"))  # e.g. a task the generation left behind
        return [record.context.reference for record in taken], written_while_held

    async def elsewhere() -> None:  # another request's call: not held by anyone
        await usage.arecord_usage(_record("elsewhere"))

    async def main() -> tuple[list[str], int]:
        result = await asyncio.create_task(generation())
        await elsewhere()
        return result

    taken, written_while_held = asyncio.run(main())

    assert taken == ["first", "second"] and written_while_held == 0
    assert sorted(LLMCall.objects.values_list("reference", flat=True)) == ["after", "elsewhere"]


def test_record_usages_writes_rows_as_record_usage_does():
    usage.record_usages([_record("one"), _record("two")])
    usage.record_usage(_record("three"))

    rows = list(LLMCall.objects.order_by("reference").values_list("reference", "input_tokens", "cost", "streamed"))
    assert rows == [(name, 3, Decimal("0.01"), True) for name in ("one", "three", "two")]
