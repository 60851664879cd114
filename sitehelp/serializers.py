"""Every serializer of the help API (input validation and output shapes)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sitehelp.models import HelpMessage, HelpSession

LANGUAGE_CODES = ["en", "de", "fr"]


class SessionCreateInputSerializer(serializers.Serializer):
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, default="en")
    consent_mode = serializers.ChoiceField(
        choices=HelpSession.ConsentMode.choices, default=HelpSession.ConsentMode.AUTO
    )


class SessionCreatedSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    token = serializers.CharField(help_text="Send it as X-Help-Session with every request about this session.")
    expires_at = serializers.DateTimeField(help_text="When the session expires unless a message is sent before.")
    idle_timeout = serializers.IntegerField(help_text="Seconds without a message after which the session expires.")


class MessageInputSerializer(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, trim_whitespace=True, help_text="The question.")

    def validate_content(self, value: str) -> str:
        if len(value) > settings.HELP_MAX_QUESTION_CHARS:
            raise serializers.ValidationError(f"At most {settings.HELP_MAX_QUESTION_CHARS} characters.")
        return value


class FeedbackOutputSerializer(serializers.Serializer):
    rating = serializers.IntegerField()
    comment = serializers.CharField()


class MessageSerializer(serializers.ModelSerializer):
    feedback = serializers.SerializerMethodField()

    class Meta:
        model = HelpMessage
        fields = ["id", "created_at", "question", "answer", "status", "error_code", "feedback"]

    @extend_schema_field(FeedbackOutputSerializer(allow_null=True))
    def get_feedback(self, message: HelpMessage) -> dict[str, object] | None:
        feedback = getattr(message, "feedback", None)
        return {"rating": feedback.rating, "comment": feedback.comment} if feedback else None


class FeedbackInputSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    rating = serializers.ChoiceField(choices=[1, -1])
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FeedbackSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    rating = serializers.IntegerField()
    comment = serializers.CharField()


class ExportSerializer(serializers.Serializer):
    session = serializers.DictField()
    messages = serializers.ListField(child=serializers.DictField())
    retention_days = serializers.IntegerField()


class CatalogueSerializer(serializers.Serializer):
    language = serializers.CharField()
    strings = serializers.DictField(child=serializers.CharField())
    error_texts = serializers.DictField(child=serializers.CharField())
    privacy_url = serializers.CharField()
    feedback_enabled = serializers.BooleanField()
    retention_days = serializers.IntegerField()


class MessagePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page (cursor), or null.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page (cursor), or null.")
    results = MessageSerializer(many=True)
