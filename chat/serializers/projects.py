"""Projects and their knowledge, saved system prompts, knowledge search and tool decisions."""

from __future__ import annotations

from rest_framework import serializers

from chat.models import Project, ProjectKnowledge, SavedSystemPrompt
from chat.services.projects import knowledge_budget

# --- projects and knowledge ------------------------------------------------------------------


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    instructions = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class ProjectUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    instructions = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tools_enabled = serializers.BooleanField(required=False, help_text="Off: no tools in the project's chats.")


class ProjectSerializer(serializers.ModelSerializer):
    knowledge_tokens = serializers.IntegerField(read_only=True, help_text="Tokens of the knowledge sent with chats.")
    knowledge_budget = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = (
            "id",
            "name",
            "description",
            "instructions",
            "knowledge_tokens",
            "knowledge_budget",
            "tools_enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_knowledge_budget(self, project: Project) -> int:
        return knowledge_budget()


class KnowledgeCreateInputSerializer(serializers.Serializer):
    project_id = serializers.UUIDField()
    title = serializers.CharField(max_length=200)
    content = serializers.CharField(trim_whitespace=False)
    include_in_chat = serializers.BooleanField(required=False, default=True)


class KnowledgeUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    content = serializers.CharField(required=False, trim_whitespace=False)
    include_in_chat = serializers.BooleanField(required=False)


class KnowledgeListQuerySerializer(serializers.Serializer):
    project = serializers.UUIDField(required=False)


class KnowledgeListSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = ProjectKnowledge
        fields: tuple[str, ...] = (
            "id",
            "project_id",
            "title",
            "include_in_chat",
            "token_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class KnowledgeSerializer(KnowledgeListSerializer):
    class Meta(KnowledgeListSerializer.Meta):
        fields = (*KnowledgeListSerializer.Meta.fields, "content")
        read_only_fields = fields


# --- saved prompts ---------------------------------------------------------------------------


class SavedPromptInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    content = serializers.CharField(trim_whitespace=False)


class SavedPromptUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    content = serializers.CharField(required=False, trim_whitespace=False)


class SavedPromptSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedSystemPrompt
        fields = ("id", "name", "content", "created_at", "updated_at")
        read_only_fields = fields


# --- retrieval and tools ---------------------------------------------------------------------------


class KnowledgeSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, help_text="What to look for, in words.")
    k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=50)


class KnowledgeSearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    knowledge_id = serializers.UUIDField(source="ref")
    title = serializers.CharField()
    section = serializers.CharField(source="heading")
    text = serializers.CharField()
    score = serializers.FloatField(help_text="Reciprocal-rank-fusion score of full text and meaning; higher is better.")


class KnowledgeSearchResultSerializer(serializers.Serializer):
    results = KnowledgeSearchHitSerializer(many=True)


class KnowledgeUploadInputSerializer(serializers.Serializer):
    project_id = serializers.UUIDField()
    file = serializers.FileField(help_text="PDF, Markdown, HTML, plain text or a code file.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="Default: the file name.")
    include_in_chat = serializers.BooleanField(required=False, default=True)


class ToolDecisionSerializer(serializers.Serializer):
    call_id = serializers.CharField()
    decision = serializers.ChoiceField(choices=["confirmed", "rejected"])
