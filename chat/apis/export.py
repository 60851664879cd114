"""Download a chat (JSON: the whole tree, re-importable; Markdown: the active branch) and upload exports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from backend.api.throttling import UploadThrottle
from backend.errors import PayloadTooLarge
from chat.apis.chats import TAGS
from chat.errors import ErrorCode
from chat.selectors import chats as selectors
from chat.serializers.chats import ExportQuerySerializer, ImportInputSerializer, ImportOutputSerializer
from chat.services import export as services
from chat.services import imports


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
            ),
            OpenApiParameter(
                "files",
                str,
                enum=["omit", "embed"],
                default="omit",
                description="JSON only: `embed` puts each attachment's file in the export (base64), so that an "
                "import restores it",
            ),
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
        query = validated(ExportQuerySerializer, request.query_params)
        export_format = query["format"]
        filename = f"chat-{slugify(chat.title)[:60] or 'untitled'}-{str(chat.id)[:8]}.{export_format}"
        body: Any
        if export_format == "md":
            body, content_type = services.chat_export_markdown(chat=chat), "text/markdown; charset=utf-8"
        else:
            document = services.chat_export_json(chat=chat, embed_files=query["files"] == "embed")
            body, content_type = json.dumps(document, cls=DjangoJSONEncoder, indent=2), "application/json"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ChatImportApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadThrottle]

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": ImportInputSerializer},
        responses={
            201: ImportOutputSerializer,
            **ERRORS,
            400: OpenApiResponse(
                description="`invalid_export`: not JSON, not an export, or a field out of bounds; `details.path` "
                "names the place, `details.reason` what is wrong. Nothing is imported."
            ),
            404: OpenApiResponse(description="`project_not_found` (or another user's project)."),
            413: OpenApiResponse(description="`import_too_large`: over CHAT_IMPORT_MAX_BYTES."),
            415: OpenApiResponse(description="`unsupported_export_type`: the file is not JSON text."),
            429: OpenApiResponse(description="Too many uploads (Retry-After)."),
        },
        summary="Import chats from an export file",
        description=(
            "Takes the JSON of `GET …/chats/{id}/export/?format=json` (or a list of such documents) and creates "
            "new chats with the same tree, texts, states and usage figures. Files embedded with `files=embed` "
            "are checked like uploads and restored. All or nothing. Limits: CHAT_IMPORT_MAX_BYTES, "
            "CHAT_IMPORT_MAX_CHATS, CHAT_IMPORT_MAX_PAIRS."
        ),
    )
    def post(self, request: Request) -> Response:
        cap = int(settings.CHAT_IMPORT_MAX_BYTES)
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if declared.isdigit() and int(declared) > cap + 64 * 1024:
            raise PayloadTooLarge(
                "The export file is too large.", code=ErrorCode.IMPORT_TOO_LARGE, details={"max_bytes": cap}
            )
        data = validated(ImportInputSerializer, request.data)
        upload = data["file"]
        if upload.size is None or upload.size > cap:
            raise PayloadTooLarge(
                "The export file is too large.", code=ErrorCode.IMPORT_TOO_LARGE, details={"max_bytes": cap}
            )
        user = request_user(request)
        project = selectors.project_get(user=user, project_id=data["project_id"]) if data.get("project_id") else None
        result = imports.chat_import_file(user=user, content=upload.read(), project=project)
        body = {
            "chat_ids": [chat.id for chat in result.chats],
            "pairs": result.pairs,
            "messages": result.messages,
            "attachments_restored": result.attachments_restored,
            "attachments_skipped": result.attachments_skipped,
        }
        return Response(ImportOutputSerializer(body).data, status=status.HTTP_201_CREATED)
