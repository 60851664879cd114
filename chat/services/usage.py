"""The per-chat usage roll-up (`TokenUsage`): every model call made for a chat, by purpose.

The `LLMCall` ledger (backend.llm) has one row per call; this daily roll-up per user, chat,
purpose and model keeps the chat, project and user totals a single indexed query away.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from backend.db import quoted_column
from backend.llm.types import Usage
from chat.models import Chat, TokenUsage


def _column(name: str) -> str:
    return quoted_column(TokenUsage, name)


# The figures a call adds to its roll-up row, in the order `rollup_upsert_from` takes them.
ROLLED_UP = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost")
_KEY = ("user", "chat_ref", "day", "purpose", "model_id")


def rollup_upsert_from(source: str) -> str:
    """PostgreSQL: the roll-up rows of `source` created or incremented in one statement.

    `source` is a VALUES list or a SELECT giving the columns of the key, the chat, the project,
    `calls` and the added figures, in that order. A row that exists keeps its chat and project,
    as on the ORM path (an UPDATE, then an INSERT when nothing matched).
    """
    added = ", ".join(f"{_column(name)} = t.{_column(name)} + EXCLUDED.{_column(name)}" for name in ROLLED_UP)
    return (
        f"INSERT INTO {TokenUsage._meta.db_table} AS t"
        f" ({', '.join(_column(name) for name in (*_KEY, 'chat', 'project', 'calls', *ROLLED_UP))}) {source}"
        " ON CONFLICT ON CONSTRAINT chat_token_usage_rollup DO UPDATE SET"
        f" {_column('calls')} = t.{_column('calls')} + EXCLUDED.{_column('calls')}, {added}"
    )


@functools.cache
def _upsert_sql() -> str:
    """`rollup_upsert_from` one call's parameters."""
    key_chat_project, figures = ", ".join(["%s"] * (len(_KEY) + 2)), ", ".join(["%s"] * len(ROLLED_UP))
    return rollup_upsert_from(f"VALUES ({key_chat_project}, 1, {figures})")


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
