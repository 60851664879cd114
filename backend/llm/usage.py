"""Usage records: every model call, successful or not, is written to the `LLMCall` ledger.

Writing a row also adds it to the user's cached monthly spend (`backend.llm.budget`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backend.db import db_sync_to_async
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


def record_usage(record: UsageRecord) -> None:
    """Append `record` to the ledger. A failure to record is logged, never raised into the call."""
    try:
        call = LLMCall.objects.create(
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
    except Exception:
        logger.exception("could not record LLM usage for %s", record.model_id)
        return
    usage = record.usage
    budget_record_spend(
        user_id=record.context.user_id,
        tokens=usage.input_tokens + usage.output_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        cost=record.cost,
        at=call.created_at,
    )


arecord_usage = db_sync_to_async(record_usage)
