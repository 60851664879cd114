"""The admin assistant's JSON API under /ai-assistant/api/: staff only, every object owner-scoped.

- `GET|POST chats` — the user's chats (cursor pages, newest first) / a new chat;
- `GET chats/{id}` — a chat and its messages (cursor pages, oldest first);
- `POST chats/{id}/message` — ask: the answer streams (SSE, the shared engine): `delta` for
  the explanation, one `result`, then `message_stop`;
- `GET settings/check` — what is configured, what is missing (never the key);
- `GET results/{id}/csv` — an answer's (capped) table as CSV.

Inactive or non-staff users get 403 `not_staff`; a foreign id is a 404.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adminassistant import selectors
from adminassistant.errors import ErrorCode
from adminassistant.serializers import (
    AdminAssistantChatCreateInputSerializer,
    AdminAssistantChatDetailSerializer,
    AdminAssistantChatListSerializer,
    AdminAssistantChatSerializer,
    AdminAssistantMessageSerializer,
    AdminAssistantQuestionInputSerializer,
    AdminAssistantResultSerializer,
    AdminAssistantSettingsCheckSerializer,
)
from adminassistant.services import chats, config
from adminassistant.services.generation import AnswerState, engine
from appauth.permissions import staff_check
from backend import errors
from backend.api.pagination import OldestFirstPagination, RecentlyUpdatedFirstPagination
from backend.api.request import request_user, validated
from backend.api.schema import error_responses
from backend.streaming import http
from backend.streaming.engine import Admission
from backend.streaming.schema import stream_responses

TAGS = ["adminassistant"]
_ERRORS = {
    **error_responses(400, 401),
    403: OpenApiResponse(
        description="Not an active staff user (`not_staff`), or a staff user who must enrol in two-factor sign-in "
        "first (`mfa_enrollment_required`)."
    ),
}
_NOT_FOUND = error_responses(404)


def require_staff(user: Any) -> None:
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        raise errors.PermissionDenied("The AI assistant is for staff only.", code=ErrorCode.NOT_STAFF)
    staff_check(user)  # two-factor sign-in, when staff must use it


class MessageCursorPagination(OldestFirstPagination):
    page_size = 50


class StaffApi(APIView):
    permission_classes = [IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_staff(request.user)


class ChatsApi(StaffApi):
    @extend_schema(
        operation_id="adminassistant_chats_list",
        summary="Your assistant chats, most recently used first",
        responses={200: AdminAssistantChatListSerializer, **_ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        paginator = RecentlyUpdatedFirstPagination()
        page = paginator.paginate_queryset(selectors.chat_list(user=request_user(request)), request, view=self)
        return paginator.get_paginated_response(AdminAssistantChatSerializer(page, many=True).data)

    @extend_schema(
        operation_id="adminassistant_chats_create",
        summary="Start a new chat",
        request=AdminAssistantChatCreateInputSerializer,
        responses={201: AdminAssistantChatSerializer, **_ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        data = validated(AdminAssistantChatCreateInputSerializer, request.data)
        chat = chats.chat_create(user=request_user(request), title=data["title"])
        return Response(AdminAssistantChatSerializer(chat).data, status=201)


class ChatDetailApi(StaffApi):
    @extend_schema(
        operation_id="adminassistant_chats_retrieve",
        summary="A chat and its messages, oldest first (cursor pages)",
        parameters=[
            OpenApiParameter("cursor", str, OpenApiParameter.QUERY, description="The page cursor."),
            OpenApiParameter("page_size", int, OpenApiParameter.QUERY, description="Messages per page (max 100)."),
        ],
        responses={200: AdminAssistantChatDetailSerializer, **_ERRORS, **_NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request: Request, id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=id)
        paginator = MessageCursorPagination()
        page = paginator.paginate_queryset(selectors.chat_messages(chat=chat), request, view=self)
        return Response(
            {
                "chat": AdminAssistantChatSerializer(chat).data,
                "messages": {
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                    "results": AdminAssistantMessageSerializer(page, many=True).data,
                },
            }
        )


class SettingsCheckApi(StaffApi):
    @extend_schema(
        operation_id="adminassistant_settings_check",
        summary="Is the assistant configured? What is missing?",
        responses={200: AdminAssistantSettingsCheckSerializer, **_ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(config.settings_check(user=request_user(request)))


def _csv_cell(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ResultCsvApi(StaffApi):
    @extend_schema(
        operation_id="adminassistant_results_csv",
        summary="An answer's result as CSV (the capped rows)",
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **_ERRORS,
            **_NOT_FOUND,
            409: OpenApiResponse(description="The answer has no table (`not_a_table`)."),
        },
        tags=TAGS,
    )
    def get(self, request: Request, id: UUID) -> HttpResponse:
        message = selectors.result_get(user=request_user(request), message_id=id)
        result = message.result or {}
        if result.get("kind") == "error":
            raise errors.Conflict("This answer has no table.", code=ErrorCode.NOT_A_TABLE)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([_csv_cell(c) for c in result.get("columns", [])])
        for row in result.get("rows", []):
            writer.writerow([_csv_cell(v) for v in row])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="result-{message.id}.csv"'
        response["Cache-Control"] = "no-store"
        return response


# --- Asking (SSE) ------------------------------------------------------------------------------


class MessageDoc(APIView):
    @extend_schema(
        operation_id="adminassistant_chats_message",
        summary="Ask a question in a chat: the answer streams (SSE)",
        request=AdminAssistantQuestionInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="A repeat with the same key and body streams the same answer instead of asking again.",
            )
        ],
        responses={
            **stream_responses(
                "AdminAssistantStream",
                start={
                    "chat_id": serializers.UUIDField(),
                    "user_message_id": serializers.UUIDField(),
                    "assistant_message_id": serializers.UUIDField(),
                },
                extra_events={
                    "result": (
                        dict(AdminAssistantResultSerializer().get_fields()),
                        "Once, after the explanation: the answer's number, table or chart, or its error.",
                    )
                },
            ),
            **_ERRORS,
            **_NOT_FOUND,
            429: OpenApiResponse(description="Too many questions (Retry-After)."),
            503: OpenApiResponse(description="The server is restarting (`shutting_down`); retry."),
        },
        tags=TAGS,
    )
    def post(self, request: Request, id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


def _fingerprint(*, path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _admit(request: HttpRequest, chat_id: UUID) -> Admission:
    user = http.authenticate(request)
    require_staff(user)
    body = http.json_body(request)
    data = validated(AdminAssistantQuestionInputSerializer, body)
    chat = selectors.chat_get(user=user, chat_id=chat_id)
    chats.question_rate_check(user=user)

    def accept() -> Admission:
        question = chats.question_accept(user=user, chat=chat, question=data["question"])
        return Admission(record_id=question.answer.id, payload=AnswerState(question=question))

    return engine.admit(
        user=user,
        idempotency_key=http.idempotency_key(request),
        fingerprint=_fingerprint(path=request.path, body=body),
        accept=accept,
    )


@http.documented("POST", doc=MessageDoc)
async def message(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /ai-assistant/api/chats/{id}/message"""
    return await http.start_response(engine, lambda: _admit(request, id))
