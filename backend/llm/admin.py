"""The usage ledger in the admin: read-only, with totals, a per-user monthly spend report and CSV."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode

from backend.admin_tools import ReadOnlyAdmin, TotalsMixin, csv_response, export_csv
from backend.llm import budget
from backend.llm.models import LLMCall, UserBudget

MICRODOLLARS = Decimal("0.000001")


def short_model_id(model_id: str) -> str:
    """`us.anthropic.claude-sonnet-4-6` -> `claude-sonnet-4-6` (the list stays narrow)."""
    return model_id.rsplit(".", 1)[-1] if model_id.count(".") else model_id


@admin.register(LLMCall)
class LLMCallAdmin(TotalsMixin, ReadOnlyAdmin):
    """The ledger is written by the LLM layer only: a billed call cannot be changed or deleted."""

    list_display = (
        "created_at",
        "user",
        "purpose",
        "provider",
        "model_short",
        "status",
        "input_tokens",
        "output_tokens",
        "cost",
    )
    list_display_links = ("created_at",)
    list_filter = ("purpose", "status", "alias", "provider", "model_id")
    search_fields = ("reference", "model_id", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    totals_fields = ("input_tokens", "output_tokens", "cost")
    actions = [export_csv]
    csv_fields = (
        "created_at",
        "user__email",
        "purpose",
        "reference",
        "alias",
        "model_id",
        "status",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "latency_ms",
        "cost",
    )

    @admin.display(description="model", ordering="model_id")
    def model_short(self, call: LLMCall) -> str:
        return short_model_id(call.model_id)

    def get_urls(self) -> list[URLPattern]:
        spend = path("spend/", self.admin_site.admin_view(self.spend_view), name="llm_llmcall_spend")
        return [spend, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "spend_url": reverse("admin:llm_llmcall_spend")}
        return super().changelist_view(request, extra_context)

    def spend_view(self, request: HttpRequest) -> HttpResponseBase:
        """Calls, tokens and cost per user and calendar month; `?format=csv` downloads it."""
        calls: QuerySet[LLMCall] = LLMCall.objects.all()
        month, query = request.GET.get("month", ""), request.GET.get("q", "").strip()
        if month:
            try:
                start = date.fromisoformat(f"{month}-01")
            except ValueError:
                start = None
            if start is not None:
                end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
                calls = calls.filter(created_at__date__gte=start, created_at__date__lt=end)
        if query:
            calls = calls.filter(user__email__icontains=query)
        sums = {
            "calls": Count("id"),
            "input_tokens": Sum("input_tokens"),
            "output_tokens": Sum("output_tokens"),
            "cost": Sum("cost"),
        }
        rows: Any = (
            calls.annotate(month=TruncMonth("created_at"))
            .values("month", "user__email")
            .annotate(**sums)
            .order_by("-month", "-cost", "user__email")
        )
        if request.GET.get("format") == "csv":
            header = ["month", "user", "calls", "input_tokens", "output_tokens", "cost_usd"]
            lines = (
                [
                    r["month"].strftime("%Y-%m"),
                    r["user__email"] or "",
                    r["calls"],
                    r["input_tokens"],
                    r["output_tokens"],
                    Decimal(r["cost"] or 0).quantize(MICRODOLLARS),
                ]
                for r in rows
            )
            return csv_response(f"spend-{month or 'all'}.csv", header, lines)
        months = LLMCall.objects.annotate(month=TruncMonth("created_at")).values_list("month", flat=True).distinct()
        context = {
            **self.admin_site.each_context(request),
            "title": "Spend per user and month",
            "rows": rows,
            "total": calls.aggregate(**sums),
            "months": sorted({m.strftime("%Y-%m") for m in months if m is not None}, reverse=True),
            "month": month,
            "q": query,
            "csv_query": urlencode({"month": month, "q": query, "format": "csv"}),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/llm/spend.html", context)


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    """Per-user monthly budgets overriding USER_MONTHLY_TOKEN_BUDGET / USER_MONTHLY_COST_BUDGET_USD."""

    list_display = ("user", "monthly_token_limit", "monthly_cost_limit_usd", "note", "updated_at")
    search_fields = ("user__email", "note")
    raw_id_fields = ("user",)
    readonly_fields = ("this_month",)

    @admin.display(description="this month (UTC)")
    def this_month(self, row: UserBudget) -> str:
        if row.pk is None:
            return "-"
        status = budget.budget_status(row.user_id)
        limits = f"{status.limits.tokens or 'unlimited'} tokens, {status.limits.usd or 'unlimited'} USD"
        return f"{status.spent_tokens} tokens, {status.spent_usd.quantize(MICRODOLLARS)} USD spent of {limits}"

    def save_model(self, request: HttpRequest, obj: UserBudget, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        budget.budget_forget(obj.user_id)

    def delete_model(self, request: HttpRequest, obj: UserBudget) -> None:
        user_id = obj.user_id
        super().delete_model(request, obj)
        budget.budget_forget(user_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[UserBudget]) -> None:
        user_ids = list(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            budget.budget_forget(user_id)
