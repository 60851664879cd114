"""Every serializer of the admin assistant's API."""

from __future__ import annotations

from rest_framework import serializers

from adminassistant.models import Chat, Message

CHART_TYPES = [("bar", "bar"), ("line", "line")]


class AdminAssistantChatSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chat
        fields = ["id", "title", "created_at", "updated_at"]
        read_only_fields = fields


class AdminAssistantChatCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AdminAssistantResultErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class AdminAssistantChartSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CHART_TYPES)
    x = serializers.CharField()
    y = serializers.CharField()


class AdminAssistantResultSerializer(serializers.Serializer):
    """The `result` event, and a stored answer's result."""

    kind = serializers.CharField(help_text="`number`, `table`, `chart` or `error`.")
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    row_count = serializers.IntegerField(help_text="Rows in `rows` (at most ADMIN_ASSISTANT_MAX_ROWS).")
    total = serializers.IntegerField(help_text="Rows the query had (more than row_count when truncated).")
    truncated = serializers.BooleanField()
    chart = AdminAssistantChartSerializer(required=False, help_text="For kind `chart`: what to plot.")
    code = serializers.CharField(allow_blank=True)
    error = AdminAssistantResultErrorSerializer(allow_null=True)


class AdminAssistantMessageSerializer(serializers.ModelSerializer):
    result = AdminAssistantResultSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "role", "status", "content", "code", "result", "error_code", "model_id", "created_at"]
        read_only_fields = fields


class AdminAssistantMessagesPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AdminAssistantMessageSerializer(many=True)


class AdminAssistantChatDetailSerializer(serializers.Serializer):
    chat = AdminAssistantChatSerializer()
    messages = AdminAssistantMessagesPageSerializer()


class AdminAssistantChatListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AdminAssistantChatSerializer(many=True)


class AdminAssistantQuestionInputSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=20_000, trim_whitespace=True)


class AdminAssistantSettingsCheckSerializer(serializers.Serializer):
    ready = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.CharField(), help_text="model, api_key, models")
    provider = serializers.CharField()
    model = serializers.CharField(help_text="The model alias questions use.")
    api_key_set = serializers.BooleanField()
    api_key_masked = serializers.CharField(help_text="Its last four characters (superusers only), else empty.")
    models_available = serializers.IntegerField(help_text="Models you may ask about.")
    database_alias = serializers.CharField()
