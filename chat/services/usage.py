"""The per-chat usage roll-up (`TokenUsage`): every model call made for a chat, by purpose.

The `LLMCall` ledger (backend.llm) has one row per call; this daily roll-up per user, chat,
purpose and model keeps the chat, project and user totals a single indexed query away.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Field
from django.utils import timezone

from backend.llm.types import Usage
from chat.models import Chat, TokenUsage


def _column(name: str) -> str:
    field = TokenUsage._meta.get_field(name)
    assert isinstance(field, Field) and field.column  # a concrete column of the roll-up
    return connection.ops.quote_name(field.column)


_ADDED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost")
_KEY = ("user", "chat_ref", "day", "purpose", "model_id")


@functools.cache
def _upsert_sql() -> str:
    """PostgreSQL: the row created or incremented in one statement (the ORM path: an UPDATE, then
    an INSERT when nothing matched). A row that exists keeps its chat and project, as there."""
    added = ", ".join(f"{_column(name)} = t.{_column(name)} + EXCLUDED.{_column(name)}" for name in _ADDED)
    return (
        f"INSERT INTO {TokenUsage._meta.db_table} AS t"  # noqa: S608 - names from the model; values are parameters
        f" ({', '.join(_column(name) for name in (*_KEY, 'chat', 'project', 'calls', *_ADDED))})"
        f" VALUES ({', '.join(['%s'] * (len(_KEY) + 2))}, 1, {', '.join(['%s'] * len(_ADDED))})"
        " ON CONFLICT ON CONSTRAINT chat_token_usage_rollup DO UPDATE SET"
        f" {_column('calls')} = t.{_column('calls')} + 1, {added}"
    )


def usage_add(*, chat: Chat, purpose: str, model_id: str, usage: Usage, cost: Decimal) -> None:
    """Add one call to the daily usage roll-up (atomic increments; creates the row once)."""
    day = timezone.localdate()
    key = {
        "user_id": chat.user_id,
        "chat_ref": chat.id,
        "day": day,
        "purpose": purpose,
        "model_id": model_id,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _upsert_sql(),
                [
                    chat.user_id,
                    chat.id,
                    day,
                    purpose,
                    model_id,
                    chat.id,
                    chat.project_id,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                    cost,
                ],
            )
        return
    increments = {
        "calls": F("calls") + 1,
        "input_tokens": F("input_tokens") + usage.input_tokens,
        "output_tokens": F("output_tokens") + usage.output_tokens,
        "cache_read_tokens": F("cache_read_tokens") + usage.cache_read_tokens,
        "cache_write_tokens": F("cache_write_tokens") + usage.cache_write_tokens,
        "cost": F("cost") + cost,
    }
    if TokenUsage.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            TokenUsage.objects.create(
                **key,
                chat=chat,
                project_id=chat.project_id,
                calls=1,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cost=cost,
            )
    except IntegrityError:  # created concurrently: add to it
        TokenUsage.objects.filter(**key).update(**increments)
