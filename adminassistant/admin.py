"""Admin: the AI settings (a superuser-only singleton; the key write-only and masked), and
read-only views of chats and the query log for superusers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from adminassistant.models import AssistantSettings, Chat, Message, QueryLog
from adminassistant.services import config
from backend.llm.registry import get_registry

CLEAR = "-"


def _alias_choices() -> list[tuple[str, Any]]:
    return [("", _("Default"))] + [(a.name, f"{a.label} ({a.name})") for a in get_registry().aliases.values()]


class AssistantSettingsForm(forms.ModelForm):
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted, never shown again. Leave empty to keep the current key; enter - to remove it."),
    )
    model_alias = forms.ChoiceField(label=_("Model"), required=False, choices=_alias_choices)

    class Meta:
        model = AssistantSettings
        fields = ["provider", "model_alias", "temperature", "max_tokens", "timeout_seconds", "send_aggregates"]

    def clean_temperature(self) -> float:
        value = self.cleaned_data["temperature"]
        if not 0.0 <= value <= 1.0:
            raise forms.ValidationError(_("Between 0.0 and 1.0."))
        return float(value)

    def clean_timeout_seconds(self) -> int:
        value = self.cleaned_data["timeout_seconds"]
        if not 1 <= value <= 600:
            raise forms.ValidationError(_("Between 1 and 600 seconds."))
        return int(value)


class SuperuserOnly(admin.ModelAdmin):
    """Visible and editable by active superusers only; nothing is added or deleted here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(SuperuserOnly):
    form = AssistantSettingsForm
    readonly_fields = ["current_key", "updated_at"]
    fieldsets = [
        (None, {"fields": ["provider", "model_alias", "api_key", "current_key"]}),
        (_("Generation"), {"fields": ["temperature", "max_tokens", "timeout_seconds", "send_aggregates"]}),
        (None, {"fields": ["updated_at"]}),
    ]

    @admin.display(description=_("Current key"))
    def current_key(self, obj: AssistantSettings) -> str:
        return obj.api_key_masked or "—"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        row = config.settings_get()
        return HttpResponseRedirect(reverse("admin:adminassistant_assistantsettings_change", args=[row.pk]))

    def save_model(self, request: HttpRequest, obj: AssistantSettings, form: Any, change: bool) -> None:
        key = form.cleaned_data.get("api_key") or ""
        if key == CLEAR:
            config.settings_set_api_key(row=obj, api_key="")
        elif key:
            config.settings_set_api_key(row=obj, api_key=key)
        super().save_model(request, obj, form, change)


class SuperuserReadOnly(SuperuserOnly):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "status", "content", "code", "error_code", "model_id")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Chat)
class ChatAdmin(SuperuserReadOnly):
    list_display = ["title", "user", "updated_at"]
    list_select_related = ["user"]
    search_fields = ["title"]
    inlines = [MessageInline]


@admin.register(QueryLog)
class QueryLogAdmin(SuperuserReadOnly):
    list_display = ["created_at", "user", "question", "result_kind", "row_count", "error_code", "duration_ms"]
    list_filter = ["error_code", "result_kind", "truncated"]
    list_select_related = ["user"]
    search_fields = ["question"]
    date_hierarchy = "created_at"
