"""Admin for the chat app. Usage figures and idempotency keys are written by the product, so read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chat.models import (
    Attachment,
    Chat,
    MemoryExtraction,
    MemorySettings,
    MemoryTag,
    Message,
    MessagePair,
    Project,
    ProjectKnowledge,
    SavedSystemPrompt,
    TokenUsage,
    UserMemory,
)

MESSAGE_USAGE_FIELDS = (
    "model_alias",
    "model_id",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "token_count",
    "heartbeat_at",
    "completed_at",
    "created_at",
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProjectKnowledgeInline(admin.StackedInline):
    model = ProjectKnowledge
    extra = 0
    fields = ("title", "include_in_chat", "token_count", "content")
    readonly_fields = ("token_count",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at", "updated_at")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    inlines = [ProjectKnowledgeInline]


@admin.register(ProjectKnowledge)
class ProjectKnowledgeAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "include_in_chat", "token_count", "updated_at")
    list_filter = ("include_in_chat",)
    search_fields = ("title", "project__name")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = ("token_count",)


@admin.register(SavedSystemPrompt)
class SavedSystemPromptAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "updated_at")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "project", "model", "archived", "incognito", "updated_at")
    list_filter = ("archived", "incognito", "title_source", "model")
    search_fields = ("title", "user__email", "id")
    date_hierarchy = "updated_at"
    list_select_related = ("user", "project")
    raw_id_fields = ("user", "project", "saved_prompt", "active_leaf")


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    fields = ("role", "status", "text", "error_code", "error_message", *MESSAGE_USAGE_FIELDS)
    readonly_fields = MESSAGE_USAGE_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MessagePair)
class MessagePairAdmin(admin.ModelAdmin):
    list_display = ("id", "chat", "depth", "hidden", "created_at")
    list_filter = ("hidden",)
    search_fields = ("id", "chat__id", "chat__title")
    list_select_related = ("chat",)
    raw_id_fields = ("chat", "parent")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "role", "status", "model_id", "output_tokens", "cost", "created_at")
    list_filter = ("role", "status", "model_alias")
    search_fields = ("id", "pair__chat__id", "model_id")
    date_hierarchy = "created_at"
    list_select_related = ("pair",)
    raw_id_fields = ("pair",)
    readonly_fields = MESSAGE_USAGE_FIELDS


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "kind", "format", "size_bytes", "created_at")
    list_filter = ("kind", "format")
    search_fields = ("name", "user__email", "sha256")
    list_select_related = ("user",)
    raw_id_fields = ("user", "message")
    readonly_fields = ("sha256", "size_bytes", "width", "height", "created_at")


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyAdmin):
    list_display = ("day", "user", "purpose", "model_id", "calls", "input_tokens", "output_tokens", "cost")
    list_filter = ("purpose", "model_id")
    search_fields = ("user__email", "model_id")
    date_hierarchy = "day"
    list_select_related = ("user",)
    raw_id_fields = ("user", "chat", "project")


@admin.register(UserMemory)
class UserMemoryAdmin(admin.ModelAdmin):
    list_display = ("summary", "user", "category", "confidence", "is_verified", "is_active", "updated_at")
    list_filter = ("category", "is_verified", "is_active")
    search_fields = ("summary", "raw_content", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user", "project", "source_chat", "source_pair", "superseded_by")
    filter_horizontal = ("tags",)


@admin.register(MemoryTag)
class MemoryTagAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(MemorySettings)
class MemorySettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "enabled", "updated_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(MemoryExtraction)
class MemoryExtractionAdmin(ReadOnlyAdmin):
    list_display = ("pair", "outcome", "created", "updated", "superseded")
    list_filter = ("outcome",)
    raw_id_fields = ("pair",)
