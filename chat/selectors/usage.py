"""Token usage and cost totals, read from the daily `TokenUsage` roll-up (written by the generation engine).

Three aggregate queries per report (overall, per day, per model), whatever the amount of usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from appauth.models import AppUser
from backend.llm.budget import BudgetStatus, budget_status
from chat.models import Chat, Project, TokenUsage

USAGE_FIELDS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


@dataclass(frozen=True)
class UsageTotals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = Decimal("0")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UsageTotals:
        return cls(
            **{field: int(row.get(field) or 0) for field in USAGE_FIELDS},
            cost=Decimal(row.get("cost") or 0).quantize(Decimal("0.000001")),
        )


@dataclass(frozen=True)
class DayUsage:
    day: date
    totals: UsageTotals


@dataclass(frozen=True)
class ModelUsage:
    model_id: str
    totals: UsageTotals


@dataclass(frozen=True)
class UsageReport:
    totals: UsageTotals
    days: list[DayUsage]  # the last `days` days, oldest first, zero-filled
    models: list[ModelUsage]  # over all time, most expensive first


def _sums() -> dict[str, Sum]:
    return {field: Sum(field) for field in (*USAGE_FIELDS, "cost")}


def _report(queryset: QuerySet[TokenUsage], *, days: int, today: date | None) -> UsageReport:
    today = today or timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    overall = UsageTotals.from_row(queryset.aggregate(**_sums()))
    per_day = {
        row["day"]: UsageTotals.from_row(dict(row))
        for row in queryset.filter(day__gte=first_day, day__lte=today).values("day").annotate(**_sums()).order_by()
    }
    per_model = [
        ModelUsage(model_id=row["model_id"], totals=UsageTotals.from_row(dict(row)))
        for row in queryset.values("model_id").annotate(**_sums()).order_by("-cost", "model_id")
    ]
    day_list = [
        DayUsage(day=day, totals=per_day.get(day, UsageTotals()))
        for day in (first_day + timedelta(days=offset) for offset in range(days))
    ]
    return UsageReport(totals=overall, days=day_list, models=per_model)


def usage_for_user(*, user: AppUser, days: int = 30, today: date | None = None) -> UsageReport:
    """All of the user's model usage (chats, titles, memory, …), including that of deleted chats."""
    return _report(TokenUsage.objects.filter(user=user), days=days, today=today)


def usage_for_chat(*, chat: Chat, days: int = 30, today: date | None = None) -> UsageReport:
    return _report(
        TokenUsage.objects.filter(Q(chat=chat) | Q(chat_ref=chat.id), user_id=chat.user_id), days=days, today=today
    )


def usage_for_project(*, project: Project, days: int = 30, today: date | None = None) -> UsageReport:
    return _report(TokenUsage.objects.filter(project=project, user_id=project.user_id), days=days, today=today)


def chat_usage_totals(*, chat: Chat) -> UsageTotals:
    """One aggregate: the chat's overall usage (for the chat detail)."""
    queryset = TokenUsage.objects.filter(Q(chat=chat) | Q(chat_ref=chat.id), user_id=chat.user_id)
    return UsageTotals.from_row(queryset.aggregate(**_sums()))


def budget_for_user(*, user: AppUser) -> BudgetStatus:
    """The user's monthly budget and what they spent of it (every model call, from the ledger)."""
    return budget_status(user.pk)
