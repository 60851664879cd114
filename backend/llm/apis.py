"""The model aliases a user may pick (for the model menu of a chat client)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.llm.registry import get_registry, selectable_aliases


class ModelAliasSerializer(serializers.Serializer):
    alias = serializers.CharField()
    name = serializers.CharField()
    context_window = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField()
    default = serializers.BooleanField()


class ModelAliasListApi(APIView):
    @extend_schema(responses=ModelAliasSerializer(many=True), summary="Model aliases a user may pick")
    def get(self, request: Request) -> Response:
        registry = get_registry()
        rows = []
        for alias in selectable_aliases():
            primary = registry.model(alias.chain[0])
            rows.append(
                {
                    "alias": alias.name,
                    "name": alias.label,
                    "context_window": primary.context_window,
                    "max_output_tokens": primary.max_output_tokens,
                    "default": alias.name == settings.LLM_DEFAULT_ALIAS,
                }
            )
        return Response(ModelAliasSerializer(rows, many=True).data)
