"""Chats, their turns (the active branch and its versions), usage and export."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import Chat, Message
from chat.selectors.chats import chat_search_snippet
from chat.serializers.attachments import AttachmentSummarySerializer

# --- shared ----------------------------------------------------------------------------------


class UsageSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)


class DayUsageSerializer(serializers.Serializer):
    day = serializers.DateField()
    usage = UsageSerializer(source="totals")


class ModelUsageSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    usage = UsageSerializer(source="totals")


class UsageReportSerializer(serializers.Serializer):
    totals = UsageSerializer()
    days = DayUsageSerializer(many=True)
    models = ModelUsageSerializer(many=True)


class BudgetSerializer(serializers.Serializer):
    limit_tokens = serializers.IntegerField(allow_null=True, help_text="Tokens per month; null: no token limit.")
    limit_usd = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=True, help_text="null: no cost limit."
    )
    spent_tokens = serializers.IntegerField(help_text="Input, output and cache tokens this month (UTC).")
    spent_usd = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)
    resets_at = serializers.DateTimeField(help_text="The start of next month (UTC), when the spend starts over.")
    warning = serializers.BooleanField(help_text="True from USER_BUDGET_WARNING_RATIO (80 %) of a limit on.")
    exhausted = serializers.BooleanField(help_text="True when new answers are refused (402 budget_exhausted).")


class UserUsageReportSerializer(UsageReportSerializer):
    budget = BudgetSerializer(help_text="This month's budget and spend (all model calls: chat, titles, memory, …).")


class UsageQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)


# --- chats -----------------------------------------------------------------------------------


class ChatListQuerySerializer(serializers.Serializer):
    archived = serializers.BooleanField(default=False)
    project = serializers.UUIDField(required=False)


class ChatCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    project_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    system_prompt = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    saved_prompt_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    model = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    incognito = serializers.BooleanField(required=False, default=False)


class ChatUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    project_id = serializers.UUIDField(required=False, allow_null=True)
    saved_prompt_id = serializers.UUIDField(required=False, allow_null=True)
    model = serializers.CharField(max_length=64, required=False, allow_blank=True)
    tools_enabled = serializers.BooleanField(required=False, help_text="Off: the assistant uses no tools here.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class ChatSystemPromptInputSerializer(serializers.Serializer):
    saved_prompt_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    system_prompt = serializers.CharField(required=False, allow_blank=True, default=None, trim_whitespace=False)


class ChatListSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = Chat
        fields: tuple[str, ...] = (
            "id",
            "title",
            "title_source",
            "project_id",
            "model",
            "archived",
            "incognito",
            "last_message_preview",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ChatDetailSerializer(ChatListSerializer):
    project_name = serializers.SerializerMethodField()
    saved_prompt_id = serializers.UUIDField(allow_null=True, read_only=True)
    active_leaf_id = serializers.UUIDField(allow_null=True, read_only=True)
    usage = serializers.SerializerMethodField()

    class Meta(ChatListSerializer.Meta):
        fields = (
            *ChatListSerializer.Meta.fields,
            "project_name",
            "system_prompt",
            "saved_prompt_id",
            "active_leaf_id",
            "tools_enabled",
            "usage",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_project_name(self, chat: Chat) -> str | None:
        return chat.project.name if chat.project_id and chat.project else None

    @extend_schema_field(UsageSerializer)
    def get_usage(self, chat: Chat) -> dict[str, Any]:
        """The chat's token totals, which the view supplies as `context["usage"]` (a `UsageTotals`)."""
        return dict(UsageSerializer(self.context["usage"]).data)


class ChatSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200)


class ChatSearchResultSerializer(ChatListSerializer):
    snippet = serializers.SerializerMethodField()

    class Meta(ChatListSerializer.Meta):
        fields = (*ChatListSerializer.Meta.fields, "snippet")
        read_only_fields = fields

    def get_snippet(self, chat: Chat) -> str:
        return chat_search_snippet(chat=chat, query=self.context.get("query", ""))


# --- messages (the active branch) --------------------------------------------------------


class MessageUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=True)


class UserMessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ("id", "text", "created_at", "attachments")
        read_only_fields = fields


class CitationSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The number the answer cites, as [n].")
    chunk_id = serializers.IntegerField()
    knowledge_id = serializers.UUIDField()
    title = serializers.CharField()
    section = serializers.CharField(help_text="The heading path of the excerpt in its document.")
    text = serializers.CharField()
    score = serializers.FloatField()


class ToolCallRecordSerializer(serializers.Serializer):
    call_id = serializers.CharField()
    tool = serializers.CharField()
    kind = serializers.CharField(help_text="read, write or destructive (empty for an unknown tool).")
    input = serializers.DictField()
    step = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["ok", "error", "invalid", "denied", "rejected", "timeout", "limit"])
    is_error = serializers.BooleanField()
    content = serializers.CharField(help_text="What the model was told: the result as JSON, or why nothing ran.")


class AssistantMessageSerializer(serializers.ModelSerializer):
    usage = MessageUsageSerializer(source="*", read_only=True)
    citations = CitationSerializer(many=True, read_only=True)
    tool_calls = ToolCallRecordSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = (
            "id",
            "status",
            "text",
            "model_alias",
            "model_id",
            "stop_reason",
            "error_code",
            "error_message",
            "usage",
            "knowledge_mode",
            "citations",
            "tool_calls",
            "created_at",
            "completed_at",
        )
        read_only_fields = fields


class TurnSerializer(serializers.Serializer):
    pair_id = serializers.UUIDField(source="pair.id")
    parent_id = serializers.UUIDField(source="pair.parent_id", allow_null=True)
    depth = serializers.IntegerField(source="pair.depth")
    hidden = serializers.BooleanField(source="pair.hidden")
    sibling_count = serializers.IntegerField()
    sibling_index = serializers.IntegerField()
    user = UserMessageSerializer(source="user_message", allow_null=True)
    assistant = AssistantMessageSerializer(source="assistant_message", allow_null=True)


class BranchPageQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(min_value=0, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=200, default=50)


class BranchPageSerializer(serializers.Serializer):
    previous = serializers.CharField(allow_null=True, help_text="URL of the page of older turns.")
    next = serializers.CharField(allow_null=True, help_text="URL of the page of newer turns.")
    total = serializers.IntegerField(help_text="Turns on the whole active branch.")
    results = TurnSerializer(many=True, source="turns")


class SiblingSerializer(serializers.Serializer):
    pair_id = serializers.UUIDField(source="pair.id")
    index = serializers.IntegerField()
    active = serializers.BooleanField(help_text="On the chat's active branch.")
    hidden = serializers.BooleanField(source="pair.hidden")
    created_at = serializers.DateTimeField(source="pair.created_at")
    user_text = serializers.CharField(source="user_message.text", default="")
    assistant_status = serializers.CharField(source="assistant_message.status", default=None, allow_null=True)


class PairToggleInputSerializer(serializers.Serializer):
    hidden = serializers.BooleanField(required=False, allow_null=True, default=None)


class PairStateSerializer(serializers.Serializer):
    pair_id = serializers.UUIDField(source="id")
    hidden = serializers.BooleanField()


class ChatTitleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chat
        fields = ["id", "title", "title_source", "updated_at"]
        read_only_fields = fields


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "md"], default="json")
    files = serializers.ChoiceField(choices=["omit", "embed"], default="omit")


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An export file: one chat document (`?format=json`) or a list of them.")
    project_id = serializers.UUIDField(required=False, allow_null=True, help_text="Put the chats in this project.")


class ImportOutputSerializer(serializers.Serializer):
    chat_ids = serializers.ListField(child=serializers.UUIDField(), help_text="The new chats, in the file's order.")
    pairs = serializers.IntegerField()
    messages = serializers.IntegerField()
    attachments_restored = serializers.IntegerField(help_text="Files embedded in the export, stored again.")
    attachments_skipped = serializers.IntegerField(help_text="Files the export described without their contents.")
