from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tools.models import ToolCallAudit


@admin.register(ToolCallAudit)
class ToolCallAuditAdmin(admin.ModelAdmin):
    """The audit trail is append-only: readable here, never edited."""

    list_display = ("created_at", "user", "tool", "kind", "outcome", "duration_ms", "reference")
    list_filter = ("outcome", "kind", "tool")
    search_fields = ("reference", "call_id", "user__email")
    raw_id_fields = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
