"""Attachments: the upload form, the stored file's shapes, the dry-run check of a file."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from chat.models import Attachment


def attachment_download_url(attachment: Attachment, request: Any) -> str:
    """The stored file's URL: signed and short-lived on S3, absolute when served by this host."""
    url = attachment.file.url
    return request.build_absolute_uri(url) if request is not None and url.startswith("/") else url


class AttachmentSummarySerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(help_text="Short-lived (signed) URL of the stored file.")

    class Meta:
        model = Attachment
        fields = ("id", "name", "kind", "format", "mime_type", "size_bytes", "width", "height", "download_url")
        read_only_fields = fields

    def get_download_url(self, attachment: Attachment) -> str:
        return attachment_download_url(attachment, self.context.get("request"))


class FileUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file. Its type is read from its content, not its name.")
    model = serializers.CharField(
        required=False, allow_blank=True, help_text="Model alias the file is meant for; limits follow it."
    )


class AttachmentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "kind", "format", "mime_type", "name", "size_bytes", "width", "height", "created_at"]
        read_only_fields = fields


class AttachmentDetailOutputSerializer(AttachmentOutputSerializer):
    message_id = serializers.UUIDField(allow_null=True, read_only=True)
    download_url = serializers.SerializerMethodField(help_text="Short-lived (signed) URL of the stored file.")

    class Meta(AttachmentOutputSerializer.Meta):
        fields = [*AttachmentOutputSerializer.Meta.fields, "message_id", "download_url"]
        read_only_fields = fields

    def get_download_url(self, attachment: Attachment) -> str:
        return attachment_download_url(attachment, self.context.get("request"))


class FileCheckOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices)
    format = serializers.CharField()
    mime_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    will_downscale = serializers.BooleanField(help_text="The image exceeds the model's limits and will be shrunk.")
