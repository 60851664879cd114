"""The per-chat usage roll-up (`TokenUsage`): every model call made for a chat, by purpose.

The `LLMCall` ledger (backend.llm) has one row per call; this daily roll-up per user, chat,
purpose and model keeps the chat, project and user totals a single indexed query away.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from backend.llm.types import Usage
from chat.models import Chat, TokenUsage


def usage_add(*, chat: Chat, purpose: str, model_id: str, usage: Usage, cost: Decimal) -> None:
    """Add one call to the daily usage roll-up (atomic increments; creates the row once)."""
    key = {
        "user_id": chat.user_id,
        "chat_ref": chat.id,
        "day": timezone.localdate(),
        "purpose": purpose,
        "model_id": model_id,
    }
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
