"""Download a chat: JSON (the whole tree, re-importable) or Markdown (the active branch)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.apis.chats import TAGS
from chat.selectors import chats as selectors
from chat.serializers.chats import ExportQuerySerializer
from chat.services import export as services


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """`?format=` chooses the export's format here, not DRF's renderer (errors are always JSON)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


class ChatExportApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "md"],
                default="json",
                description="json: the whole tree; md: the active branch",
            )
        ],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The export document."),
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="A readable transcript."),
            **ERRORS,
        },
        summary="Export a chat as a download",
    )
    def get(self, request: Request, chat_id: UUID) -> HttpResponse:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        export_format = validated(ExportQuerySerializer, request.query_params)["format"]
        filename = f"chat-{slugify(chat.title)[:60] or 'untitled'}-{str(chat.id)[:8]}.{export_format}"
        body: Any
        if export_format == "md":
            body, content_type = services.chat_export_markdown(chat=chat), "text/markdown; charset=utf-8"
        else:
            document = services.chat_export_json(chat=chat)
            body, content_type = json.dumps(document, cls=DjangoJSONEncoder, indent=2), "application/json"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
