"""Memories, their tags, the on/off switch, stats and the context preview."""

from __future__ import annotations

from rest_framework import serializers

from chat.models import MemoryTag, Message, UserMemory
from chat.serializers.chats import CitationSerializer


class MemoryTagSerializer(serializers.ModelSerializer):
    memory_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = MemoryTag
        fields = ["id", "name", "memory_count", "created_at"]
        read_only_fields = fields


class MemorySerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()

    class Meta:
        model = UserMemory
        fields = [
            "id",
            "summary",
            "raw_content",
            "category",
            "confidence",
            "tags",
            "project_id",
            "source_chat_id",
            "source_pair_id",
            "is_verified",
            "is_active",
            "superseded_by_id",
            "times_referenced",
            "last_referenced_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tags(self, memory: UserMemory) -> list[str]:
        return sorted(tag.name for tag in memory.tags.all())


class MemoryInputSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=300)
    raw_content = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, default=UserMemory.Category.OTHER)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    project_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class MemoryUpdateInputSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=300, required=False)
    raw_content = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, required=False)
    confidence = serializers.FloatField(min_value=0, max_value=1, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    project_id = serializers.UUIDField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    is_verified = serializers.BooleanField(required=False)


class MemoryListQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", allow_blank=True, help_text="Text or tag to look for.")
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, required=False, default="")
    tag = serializers.CharField(required=False, default="")
    project = serializers.UUIDField(required=False, allow_null=True, default=None)
    active = serializers.BooleanField(required=False, allow_null=True, default=True, help_text="Empty: both.")
    verified = serializers.BooleanField(required=False, allow_null=True, default=None)


class VerifyInputSerializer(serializers.Serializer):
    verified = serializers.BooleanField(default=True)


class TagInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class MemorySettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class MemoryStatsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    verified = serializers.IntegerField()
    project_scoped = serializers.IntegerField()
    times_referenced = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    tags = serializers.IntegerField()
    last_referenced_at = serializers.DateTimeField(allow_null=True)
    last_updated_at = serializers.DateTimeField(allow_null=True)
    last_extraction_at = serializers.DateTimeField(allow_null=True)


class ContextQuerySerializer(serializers.Serializer):
    chat_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    q = serializers.CharField(required=False, allow_blank=True, default=None, allow_null=True)


class KnowledgePreviewSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=Message.KnowledgeMode.choices,
        help_text="whole: the included knowledge is sent entire; retrieval: over the budget, the excerpts below "
        "(found for the question) are sent instead; empty: no included knowledge.",
    )
    included_tokens = serializers.IntegerField()
    budget_tokens = serializers.IntegerField()
    excerpts = CitationSerializer(many=True)


class ContextPreviewSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    text = serializers.CharField(help_text="Exactly the block added to the system prompt; empty when none.")
    token_estimate = serializers.IntegerField()
    budget_tokens = serializers.IntegerField()
    memories = MemorySerializer(many=True)
    knowledge = KnowledgePreviewSerializer(allow_null=True, help_text="The chat's project knowledge; null outside one.")


class ForgetAllSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class QueuedSerializer(serializers.Serializer):
    queued = serializers.BooleanField()
