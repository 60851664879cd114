"""Usage records: every model call, successful or not, is written to the `LLMCall` ledger.

Writing a row also adds it to the user's cached monthly spend (`backend.llm.budget`).

A generation on the streaming engine *holds* its calls' rows (`hold_usage`) instead of writing
each on its own database hop: the engine writes them with the generation's next database write
— its terminal state, where an adapter may write them in the same statement (`ledger_insert`),
or the next model call of the same answer; a call that asks for tools has its row written
before they run (`backend.streaming.engine.Run.stream`), and an adapter's own database work
during the run writes them first (`Run.in_database`). Each row is in the ledger before the
answer's terminal event is sent, as before; an answer saves one hop and one statement.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backend.db import db_sync_to_async, json_insert
from backend.llm.budget import budget_record_spend
from backend.llm.models import LLMCall
from backend.llm.types import CallContext, Usage

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class UsageRecord:
    context: CallContext
    alias: str
    model_id: str
    streamed: bool
    provider: str = "bedrock"
    status: str = "ok"
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    latency_ms: int = 0
    first_token_ms: int | None = None
    stop_reason: str = ""
    error_code: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class CallReport:
    """What a call cost, filled in by the LLM layer on every ending: complete, failed or cancelled.

    A caller that streams hands one in (`astream(request, report=...)`) to learn the model that
    was called and the tokens billed even when the stream raised or was closed early, so that
    what the user is shown equals what the ledger holds.
    """

    model_id: str = ""
    status: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    provider: str = ""

    def fill(self, record: UsageRecord) -> None:
        self.model_id = record.model_id
        self.provider = record.provider
        self.status = record.status
        self.usage = record.usage
        self.cost = record.cost


def ledger_row(record: UsageRecord) -> LLMCall:
    """The unsaved `LLMCall` row of `record`."""
    return LLMCall(
        user_id=record.context.user_id,
        purpose=record.context.purpose,
        reference=record.context.reference[:128],
        alias=record.alias,
        model_id=record.model_id,
        provider=record.provider,
        attempts=record.attempts,
        streamed=record.streamed,
        status=record.status,
        error_code=record.error_code,
        stop_reason=record.stop_reason,
        input_tokens=record.usage.input_tokens,
        output_tokens=record.usage.output_tokens,
        cache_read_tokens=record.usage.cache_read_tokens,
        cache_write_tokens=record.usage.cache_write_tokens,
        usage_estimated=record.usage.estimated,
        latency_ms=record.latency_ms,
        first_token_ms=record.first_token_ms,
        cost=record.cost,
    )


def record_spent(rows: list[LLMCall]) -> None:
    """Add written ledger rows to their users' cached month sums."""
    for row in rows:
        budget_record_spend(
            user_id=row.user_id,
            tokens=row.input_tokens + row.output_tokens + row.cache_read_tokens + row.cache_write_tokens,
            cost=row.cost,
            at=row.created_at,
        )


def record_usage(record: UsageRecord) -> None:
    """Append `record` to the ledger. A failure to record is logged, never raised into the call."""
    record_usages([record])


def record_usages(records: list[UsageRecord]) -> None:
    """Append `records` to the ledger in one statement. A failure is logged, never raised."""
    if not records:
        return
    try:
        rows = LLMCall.objects.bulk_create([ledger_row(record) for record in records])
    except Exception:
        logger.exception("could not record LLM usage for %s", ", ".join(record.model_id for record in records))
        return
    record_spent(rows)


def ledger_insert(records: list[UsageRecord]) -> tuple[str, list[Any], list[LLMCall]]:
    """The INSERT of `records`' ledger rows as SQL and parameters, for a statement that writes
    them with other rows (a data-modifying CTE, PostgreSQL: `backend.db.json_insert`); and the
    rows (call `record_spent` once written)."""
    rows = [ledger_row(record) for record in records]
    sql, params = json_insert(LLMCall, rows)  # one text whatever the number of rows
    return sql, params, rows


arecord_usages = db_sync_to_async(record_usages)


@dataclass(slots=True)
class HeldUsage:
    """The ledger rows a generation holds until its next database write (see the module docstring)."""

    records: list[UsageRecord] = field(default_factory=list)
    open: bool = True

    def take(self) -> list[UsageRecord]:
        records, self.records = self.records, []
        return records

    def close(self) -> list[UsageRecord]:
        """What is held; from now on `arecord_usage` in this context writes at once again."""
        self.open = False
        return self.take()


_held: ContextVar[HeldUsage | None] = ContextVar("held_usage", default=None)


def hold_usage() -> HeldUsage:
    """From now on in this context (a generation's task), `arecord_usage` holds its records."""
    held = HeldUsage()
    _held.set(held)
    return held


async def arecord_usage(record: UsageRecord) -> None:
    """`record_usage` on a database thread, or held by the generation this call is part of."""
    held = _held.get()
    if held is not None and held.open:
        held.records.append(record)
        return
    await arecord_usages([record])
