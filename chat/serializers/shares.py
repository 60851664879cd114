"""Serializers of shared chats: the owner's shares and the public snapshot."""

from __future__ import annotations

from rest_framework import serializers

from chat.models import ChatShare
from chat.selectors import shares as selectors


class ShareCreateInputSerializer(serializers.Serializer):
    chat_id = serializers.UUIDField()
    include_attachments = serializers.BooleanField(
        default=False, help_text="Share the files of the shared messages too (off: text only)."
    )
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        help_text="The link stops working after this many days; absent: CHAT_SHARE_DEFAULT_EXPIRY_DAYS (0: never).",
    )


class ShareListQuerySerializer(serializers.Serializer):
    chat = serializers.UUIDField(required=False, help_text="Only the shares of this chat.")


class ShareSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(help_text="`active`, `revoked` or `expired`.")
    message_count = serializers.SerializerMethodField()

    class Meta:
        model = ChatShare
        fields: tuple[str, ...] = (
            "id",
            "chat_id",
            "title",
            "token_hint",
            "include_attachments",
            "message_count",
            "expires_at",
            "revoked_at",
            "created_at",
            "state",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_state(self, share: ChatShare) -> str:
        return selectors.share_state(share)

    def get_message_count(self, share: ChatShare) -> int:
        return len(share.snapshot.get("messages", []))


class CreatedShareSerializer(ShareSerializer):
    token = serializers.CharField(help_text="Shown only now: the database keeps only its hash.")
    url = serializers.URLField(help_text="The read-only page anyone with the link may open.")
    api_url = serializers.URLField(help_text="The same snapshot as JSON.")

    class Meta(ShareSerializer.Meta):
        fields = (*ShareSerializer.Meta.fields, "token", "url", "api_url")
        read_only_fields = fields


class SharedAttachmentSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    format = serializers.CharField()
    mime_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    download_url = serializers.URLField(help_text="Signed for this share; valid CHAT_SHARE_ATTACHMENT_URL_SECONDS.")


class SharedMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["user", "assistant"])
    text = serializers.CharField(allow_blank=True)
    status = serializers.CharField(help_text="An assistant answer's state when shared: complete, error, …")
    model = serializers.CharField(allow_blank=True, help_text="The model that answered (assistant messages).")
    created_at = serializers.DateTimeField()
    attachments = SharedAttachmentSerializer(many=True)


class SharedChatSerializer(serializers.Serializer):
    title = serializers.CharField()
    shared_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    messages = SharedMessageSerializer(many=True)
