"""Admin for the chat app.

Messages, usage figures and idempotency keys are written by the product, so they are read-only:
staff cannot silently rewrite a conversation or a bill.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from backend.admin_tools import ReadOnlyAdmin, ReadOnlyInline, TotalsMixin, excerpt, export_csv
from backend.llm.admin import short_model_id
from chat.models import (
    Attachment,
    Chat,
    ChatShare,
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


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("role", "status", "text", "error_code", "error_message", *MESSAGE_USAGE_FIELDS)
    readonly_fields = fields


@admin.register(MessagePair)
class MessagePairAdmin(admin.ModelAdmin):
    list_display = ("id", "chat", "depth", "hidden", "created_at")
    list_filter = ("hidden",)
    search_fields = ("id", "chat__id", "chat__title")
    list_select_related = ("chat",)
    raw_id_fields = ("chat", "parent")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("text_excerpt", "chat_user", "chat_title", "role", "status", "model_alias", "cost", "created_at")
    list_filter = ("role", "status", "model_alias")
    search_fields = ("id", "text", "pair__chat__id", "pair__chat__title", "pair__chat__user__email", "model_id")
    date_hierarchy = "created_at"
    list_select_related = ("pair__chat__user",)
    raw_id_fields = ("pair",)

    @admin.display(description="text")
    def text_excerpt(self, message: Message) -> str:
        return excerpt(message.text, 70) or "(empty)"

    @admin.display(description="user", ordering="pair__chat__user__email")
    def chat_user(self, message: Message) -> str:  # not `user`: that name is the model's field
        return message.pair.chat.user.email

    @admin.display(description="chat", ordering="pair__chat__title")
    def chat_title(self, message: Message) -> str:
        return excerpt(message.pair.chat.title, 40)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "kind", "format", "size_bytes", "created_at")
    list_filter = ("kind", "format")
    search_fields = ("name", "user__email", "sha256")
    list_select_related = ("user",)
    raw_id_fields = ("user", "message")
    readonly_fields = ("sha256", "size_bytes", "width", "height", "created_at")


@admin.register(TokenUsage)
class TokenUsageAdmin(TotalsMixin, ReadOnlyAdmin):
    list_display = (
        "day",
        "user",
        "chat_title",
        "purpose",
        "model_short",
        "calls",
        "input_tokens",
        "output_tokens",
        "cost",
    )
    list_filter = ("purpose", "model_id")
    search_fields = ("user__email", "model_id", "chat__title")
    date_hierarchy = "day"
    list_select_related = ("user", "chat")
    raw_id_fields = ("user", "chat", "project")
    totals_fields = ("calls", "input_tokens", "output_tokens", "cost")
    actions = [export_csv]
    csv_fields = (
        "day",
        "user__email",
        "chat_ref",
        "chat__title",
        "purpose",
        "model_id",
        "calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost",
    )

    @admin.display(description="chat", ordering="chat__title")
    def chat_title(self, usage: TokenUsage) -> str:
        return excerpt(usage.chat.title, 40) if usage.chat is not None else "(deleted chat)"

    @admin.display(description="model", ordering="model_id")
    def model_short(self, usage: TokenUsage) -> str:
        return short_model_id(usage.model_id)


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


@admin.register(ChatShare)
class ChatShareAdmin(ReadOnlyAdmin):
    """Shared links: readable, and revocable by staff (an abusive share); the token is never shown."""

    list_display = ("title", "user", "token_hint", "include_attachments", "created_at", "expires_at", "revoked_at")
    list_filter = ("include_attachments",)
    search_fields = ("title", "user__email", "token_hint")
    raw_id_fields = ("user", "chat")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    exclude = ("token_hash",)
    actions = ["revoke"]

    @admin.action(description="Revoke the selected shared links")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ChatShare]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} shared link(s) revoked.")
