"""Read-only admin of help sessions, messages and feedback, with feedback statistics and CSV export."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from sitehelp import selectors
from sitehelp.models import HelpFeedback, HelpMessage, HelpSession


class ReadOnlyAdmin(admin.ModelAdmin):
    """Staff read conversations; only the visitor (or the retention purge) changes or deletes them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = HelpMessage
    fields = readonly_fields = ("created_at", "status", "question", "answer", "output_tokens", "error_code")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HelpSession)
class HelpSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "last_activity_at", "language", "consent_mode", "origin"]
    list_filter = ["language", "consent_mode", "created_at"]
    search_fields = ["id", "origin"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]


@admin.register(HelpMessage)
class HelpMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "channel",
        "language",
        "status",
        "model_id",
        "output_tokens",
        "cost",
        "error_code",
    ]
    list_filter = ["channel", "language", "status", "error_code", "created_at"]
    search_fields = ["id", "session__id"]
    date_hierarchy = "created_at"
    list_select_related = ["session"]


@admin.action(description="Export the selected feedback as CSV")
def export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[HelpFeedback]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="help-feedback.csv"'
    writer = csv.writer(response)
    writer.writerow(["created_at", "rating", "comment", "language", "message_id", "session_id", "question", "answer"])
    for feedback in queryset.select_related("message"):
        message = feedback.message
        writer.writerow(
            [
                feedback.created_at.isoformat(),
                feedback.rating,
                _cell(feedback.comment),
                message.language,
                message.id,
                message.session_id,
                _cell(message.question),
                _cell(message.answer),
            ]
        )
    return response


def _cell(text: str) -> str:
    """A spreadsheet cannot run a cell that starts like a formula (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(HelpFeedback)
class HelpFeedbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "rating", "comment", "message_language"]
    list_filter = ["rating", "message__language", "created_at"]
    search_fields = ["comment"]
    date_hierarchy = "created_at"
    actions = [export_csv]
    list_select_related = ["message"]
    change_list_template = "admin/sitehelp/helpfeedback/change_list.html"

    @admin.display(description="language", ordering="message__language")
    def message_language(self, feedback: HelpFeedback) -> str:
        return feedback.message.language

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            queryset = response.context_data["cl"].queryset
            response.context_data["feedback_statistics"] = selectors.feedback_statistics(queryset=queryset)
        return response
