"""Admin building blocks shared by the apps: read-only ledgers, totals, CSV export.

- `ReadOnlyAdmin`: rows written by the product only; staff can read them, never add, change or
  delete them (a conversation or a billed call cannot be rewritten from the admin).
- `TotalsMixin`: sums of chosen columns over the filtered change list, shown above it.
- `export_csv`: an admin action writing the selected rows (the displayed columns) as CSV.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import DecimalField, QuerySet, Sum
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import Truncator


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete: the product writes these rows, people only read them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.StackedInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def excerpt(text: str, chars: int = 80) -> str:
    return Truncator(" ".join(text.split())).chars(chars)


class TotalsMixin(admin.ModelAdmin):
    """Adds `totals` (sums of `totals_fields` over the filtered rows) to the change list page."""

    totals_fields: Sequence[str] = ()
    change_list_template = "admin/change_list_with_totals.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}  # absent on redirects (actions)
        changelist = context.get("cl")
        if changelist is not None:
            sums = changelist.queryset.aggregate(**{name: Sum(name) for name in self.totals_fields})
            fields = [changelist.model._meta.get_field(name) for name in self.totals_fields]
            context["totals"] = [(field.verbose_name, _exact(field, sums[field.name])) for field in fields]
        return response


def _exact(field: Any, value: Any) -> Any:
    """A sum as the column shows it: a decimal keeps the column's places (SQLite drops them)."""
    if isinstance(field, DecimalField):
        return Decimal(value or 0).quantize(Decimal(1).scaleb(-field.decimal_places))
    return value or 0


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """A streamed CSV download (rows are written as they are read)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterable[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell starting with one of these is read as a formula.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@admin.action(description="Export the selected rows as CSV")
def export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase:
    fields = list(getattr(modeladmin, "csv_fields", ()) or modeladmin.get_list_display(request))
    model_name = modeladmin.model._meta.model_name
    stamp = timezone.now().strftime("%Y%m%d-%H%M")

    def value(obj: Any, name: str) -> Any:
        attribute = getattr(modeladmin, name, None)
        if callable(attribute):
            return attribute(obj)
        result = obj
        for part in name.split("__"):
            result = getattr(result, part, None)
        return result

    related = modeladmin.list_select_related
    if isinstance(related, (list, tuple)) and related:
        queryset = queryset.select_related(*related)
    rows = ([value(obj, name) for name in fields] for obj in queryset.iterator(chunk_size=2000))
    return csv_response(f"{model_name}-{stamp}.csv", fields, rows)
