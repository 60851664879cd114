"""Input validation and output rendering of the prototypes API (no writes here)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from prototypes.models import DesignProject, Group, Prototype, PrototypeVariant, PrototypeVersion

MAX_PROMPT_CHARS = 20_000

# --- input ------------------------------------------------------------------------------------------


class DesignProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class GroupInputSerializer(serializers.Serializer):
    design_project_id = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class GroupUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class PrototypeUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    group_id = serializers.UUIDField(required=False, allow_null=True)


class VariantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class GenerateInputSerializer(serializers.Serializer):
    design_project_id = serializers.UUIDField()
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    group_id = serializers.UUIDField(required=False, allow_null=True)


class CreateVariantInputSerializer(serializers.Serializer):
    source_variant_id = serializers.UUIDField(required=False, allow_null=True, help_text="Default: the original.")
    prompt = serializers.CharField(
        max_length=MAX_PROMPT_CHARS, required=False, allow_blank=True, help_text="What the variant should explore."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CreateVersionInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS)


class ListQuerySerializer(serializers.Serializer):
    design_project = serializers.UUIDField(required=False)
    group = serializers.UUIDField(required=False)
    prototype = serializers.UUIDField(required=False)
    variant = serializers.UUIDField(required=False)


class DiffQuerySerializer(serializers.Serializer):
    against = serializers.UUIDField(required=False, help_text="Default: the previous version of the same variant.")


# --- output -----------------------------------------------------------------------------------------


class DesignProjectSerializer(serializers.ModelSerializer):
    prototypes_count = serializers.IntegerField(read_only=True, default=0)
    groups_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = DesignProject
        fields = ["id", "name", "description", "prototypes_count", "groups_count", "created_at", "updated_at"]


class GroupSerializer(serializers.ModelSerializer):
    design_project_id = serializers.UUIDField(source="project_id", read_only=True)
    prototypes_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Group
        fields = ["id", "design_project_id", "name", "description", "prototypes_count", "created_at", "updated_at"]


class PrototypeSerializer(serializers.ModelSerializer):
    design_project_id = serializers.UUIDField(source="project_id", read_only=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)
    variants_count = serializers.IntegerField(read_only=True, default=0)
    latest_version_id = serializers.UUIDField(read_only=True, allow_null=True, default=None)
    latest_version_status = serializers.CharField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = Prototype
        fields = [
            "id",
            "design_project_id",
            "group_id",
            "name",
            "initial_prompt",
            "variants_count",
            "latest_version_id",
            "latest_version_status",
            "created_at",
            "updated_at",
        ]


class VariantSerializer(serializers.ModelSerializer):
    prototype_id = serializers.UUIDField(read_only=True)
    source_variant_id = serializers.UUIDField(read_only=True, allow_null=True)
    versions_count = serializers.IntegerField(read_only=True, default=0)
    latest_version_id = serializers.UUIDField(read_only=True, allow_null=True, default=None)
    latest_version_number = serializers.IntegerField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = PrototypeVariant
        fields = [
            "id",
            "prototype_id",
            "name",
            "is_original",
            "source_variant_id",
            "guidance",
            "versions_count",
            "latest_version_id",
            "latest_version_number",
            "created_at",
            "updated_at",
        ]


_VERSION_FIELDS = [
    "id",
    "variant_id",
    "version_number",
    "kind",
    "status",
    "base_version_id",
    "edit_prompt",
    "edit_mode",
    "summary",
    "model_id",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "error_code",
    "error_message",
    "created_at",
    "completed_at",
]


class VersionSerializer(serializers.ModelSerializer):
    """A version without its page (lists)."""

    variant_id = serializers.UUIDField(read_only=True)
    base_version_id = serializers.UUIDField(read_only=True, allow_null=True)
    # A plain string in the schema: an enum named `kind` would collide with chat's attachment kinds.
    kind = serializers.CharField(read_only=True, help_text="generate | variant | edit | revert")

    class Meta:
        model = PrototypeVersion
        fields = _VERSION_FIELDS


class VersionDetailSerializer(VersionSerializer):
    """A version with its full page, diff, and what sanitising removed."""

    class Meta:
        model = PrototypeVersion
        fields = [*_VERSION_FIELDS, "html_content", "diff", "sanitizer_notes"]


class PrototypeDetailSerializer(PrototypeSerializer):
    variants = serializers.SerializerMethodField()

    class Meta(PrototypeSerializer.Meta):
        fields = [*PrototypeSerializer.Meta.fields, "variants"]

    @extend_schema_field(VariantSerializer(many=True))
    def get_variants(self, prototype: Prototype) -> list[dict[str, Any]]:
        return VariantSerializer(self.context.get("variants", []), many=True).data  # type: ignore[return-value]


class DiffSerializer(serializers.Serializer):
    version_id = serializers.UUIDField()
    against_version_id = serializers.UUIDField(allow_null=True)
    diff = serializers.CharField()


class PreviewLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    expires_at = serializers.DateTimeField()
