"""Sending a message, editing one, answering again (the streaming endpoints' request bodies)."""

from __future__ import annotations

from rest_framework import serializers


class MessageCreateSerializer(serializers.Serializer):
    content = serializers.CharField(trim_whitespace=False)
    chat_id = serializers.UUIDField(required=False, allow_null=True)
    project_id = serializers.UUIDField(required=False, allow_null=True)
    parent_pair_id = serializers.UUIDField(required=False, allow_null=True)
    model = serializers.CharField(required=False, allow_blank=True, max_length=64)
    attachments = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=25)


class MessageEditSerializer(serializers.Serializer):
    content = serializers.CharField(trim_whitespace=False)
    model = serializers.CharField(required=False, allow_blank=True, max_length=64)


class RegenerateSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, max_length=64)
