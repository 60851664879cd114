"""Sending messages and streaming answers over Server-Sent Events.

These are async Django views on the streaming engine (`backend.streaming`): they authenticate
with the same DRF authentication classes as the rest of the API (Knox token or session +
CSRF), validate with DRF serializers, hand the accepting service to the engine's admission,
then stream the answer's events. Each view function carries a documentation-only DRF view as
`.cls`, so the endpoints appear in the OpenAPI schema with their request and event shapes.

The event contract is docs/streaming.md: `message_start`, `delta`, `snapshot`, `message_stop`
/ `error` (terminal), ids strictly increasing; resume with `GET messages/{id}/stream/` and
`Last-Event-ID`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request

from appauth.models import AppUser
from backend import errors
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from backend.db import SqlGuard, db_sync_to_async
from backend.streaming import http
from backend.streaming.engine import Admission
from backend.streaming.schema import StreamTicketSerializer, resume_parameters, stop_responses, stream_responses
from chat.models import Message
from chat.selectors.chats import assistant_message_get
from chat.serializers.chats import CitationSerializer
from chat.serializers.messages import MessageCreateSerializer, MessageEditSerializer, RegenerateSerializer
from chat.services import messages
from chat.services.attachments import attachment_create
from chat.services.generation import admission_of, engine

# --- Plumbing -----------------------------------------------------------------------------------------


def _payload(request: HttpRequest) -> tuple[dict[str, Any], list[Any]]:
    """The request body as data plus uploaded files (JSON, or multipart with `files`)."""
    content_type = request.content_type or ""
    if content_type.startswith("multipart/form-data"):
        data: dict[str, Any] = {key: request.POST.get(key) for key in request.POST if key != "attachments"}
        if request.POST.getlist("attachments"):
            data["attachments"] = request.POST.getlist("attachments")
        return data, request.FILES.getlist("files")
    if content_type != "application/json":
        raise errors.UnsupportedMediaType("Send application/json or multipart/form-data.")
    return http.json_object(request.body), []


# --- Schema pieces ---------------------------------------------------------------------------------------

_SSE_RESPONSE = stream_responses(
    "Chat",
    start={
        "chat_id": serializers.UUIDField(),
        "pair_id": serializers.UUIDField(),
        "user_message_id": serializers.UUIDField(),
        "assistant_message_id": serializers.UUIDField(),
        "omitted_pair_ids": serializers.ListField(
            child=serializers.UUIDField(), help_text="Oldest turns left out of the context (over budget)."
        ),
    },
    extra_events={
        "citations": (
            {"citations": CitationSerializer(many=True)},
            "Before the terminal event of an answer given from knowledge excerpts (retrieval mode): the "
            "excerpts the answer may cite as [n]. The same list is stored on the message.",
        ),
        "tool_call": (
            {
                "call_id": serializers.CharField(),
                "tool": serializers.CharField(),
                "kind": serializers.CharField(help_text="read, write or destructive."),
                "input": serializers.DictField(),
            },
            "The model calls a tool.",
        ),
        "tool_confirmation": (
            {
                "call_id": serializers.CharField(),
                "tool": serializers.CharField(),
                "summary": serializers.CharField(),
                "timeout_seconds": serializers.FloatField(),
            },
            "A destructive call waits for the user: POST …/tool-calls/{call_id}/confirm/ or …/reject/ "
            "(no answer within timeout_seconds counts as rejected).",
        ),
        "tool_result": (
            {
                "call_id": serializers.CharField(),
                "tool": serializers.CharField(),
                "status": serializers.CharField(help_text="ok, error, invalid, denied, rejected, timeout or limit."),
                "is_error": serializers.BooleanField(),
                "content": serializers.CharField(help_text="What the model was told (cut at 4,000 characters)."),
            },
            "A tool call ended.",
        ),
    },
)
_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body replays the same answer instead of generating again.",
)
_ERRORS = {
    **ERRORS,
    402: OpenApiResponse(
        description="Monthly budget used up (`budget_exhausted`; details: reset_at, spent_tokens, spent_usd, "
        "limit_tokens, limit_usd)."
    ),
    409: OpenApiResponse(description="Idempotency-Key reused for another request."),
    503: OpenApiResponse(description="The server is restarting (`shutting_down`); retry."),
    413: OpenApiResponse(description="Message or attachment too large."),
    429: OpenApiResponse(description="Rate limit or concurrent-generation limit (Retry-After)."),
}


# --- Views ----------------------------------------------------------------------------------------------


def _accept_new(request: HttpRequest) -> Admission:
    return http.admitted(request, lambda user, guard: _admit_new(request, user, guard))


def _admit_new(request: HttpRequest, user: AppUser, guard: SqlGuard | None) -> Admission:
    data, files = _payload(request)
    fields = validated(MessageCreateSerializer, data)
    attachment_ids: list[UUID] = list(fields.get("attachments") or [])
    attachment_ids += [
        attachment_create(user=user, upload=upload, alias=fields.get("model") or None).id for upload in files
    ]
    idempotency_key = http.idempotency_key(request)
    with messages.message_send_ahead(
        user=user,
        chat_id=fields.get("chat_id"),
        project_id=fields.get("project_id"),
        attachment_ids=attachment_ids,
        keyed=idempotency_key is not None,
    ):
        return engine.admit(
            user=user,
            guard=guard,
            idempotency_key=idempotency_key,
            fingerprint=messages.request_fingerprint({**data, "attachments": [str(i) for i in attachment_ids]}),
            accept=lambda: admission_of(
                messages.message_send(
                    user=user,
                    content=fields["content"],
                    chat_id=fields.get("chat_id"),
                    project_id=fields.get("project_id"),
                    parent_pair_id=fields.get("parent_pair_id"),
                    model=fields.get("model") or None,
                    attachment_ids=attachment_ids,
                )
            ),
        )


@http.documented(
    "POST",
    operation_id="chat_message_send",
    summary="Send a message and stream the answer (SSE)",
    request={"application/json": MessageCreateSerializer, "multipart/form-data": MessageCreateSerializer},
    parameters=[_IDEMPOTENCY],
    responses={**_SSE_RESPONSE, **_ERRORS},
    tags=["chat"],
)
async def message_create(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/chat/messages/: accept the message, start the answer, stream it."""
    return await http.start_response(engine, lambda: _accept_new(request))


def _stream_target(request: HttpRequest, message_id: UUID) -> Message:
    return assistant_message_get(user=http.authenticate(request), message_id=message_id)


def _stream_reader_target(request: HttpRequest, message_id: UUID) -> Message:
    user = http.stream_user(request, scope=engine.scope, record_id=message_id)
    return assistant_message_get(user=user, message_id=message_id)


@http.documented(
    "GET",
    operation_id="chat_message_stream",
    summary="Resume or follow an answer (SSE)",
    parameters=resume_parameters(),
    responses={**_SSE_RESPONSE, 401: _ERRORS[401], 404: _ERRORS[404]},
    tags=["chat"],
)
async def message_stream(request: HttpRequest, message_id: UUID) -> HttpResponseBase:
    """GET /api/v1/chat/messages/{id}/stream/: replay what the client missed, then follow."""
    message = await db_sync_to_async(_stream_reader_target)(request, message_id)
    return http.resume_response(engine, request, message.id)


@http.documented(
    "POST",
    operation_id="chat_message_stop",
    summary="Stop generating an answer",
    request=None,
    responses={**stop_responses("Message"), 401: _ERRORS[401], 404: _ERRORS[404]},
    tags=["chat"],
)
async def message_stop(request: HttpRequest, message_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/messages/{id}/stop/: stop the answer; it ends `cancelled` with its partial text."""
    message = await db_sync_to_async(_stream_target)(request, message_id)
    return await http.stop_response(engine, message)


def _accept_edit(request: HttpRequest, pair_id: UUID) -> Admission:
    def admit(user: AppUser, guard: SqlGuard | None) -> Admission:
        data, _ = _payload(request)
        fields = validated(MessageEditSerializer, data)
        return engine.admit(
            user=user,
            guard=guard,
            accept=lambda: admission_of(
                messages.message_edit(
                    user=user, pair_id=pair_id, content=fields["content"], model=fields.get("model") or None
                )
            ),
        )

    return http.admitted(request, admit)


def _accept_regenerate(request: HttpRequest, pair_id: UUID) -> Admission:
    def admit(user: AppUser, guard: SqlGuard | None) -> Admission:
        data, _ = _payload(request) if request.body else ({}, [])
        fields = validated(RegenerateSerializer, data)
        return engine.admit(
            user=user,
            guard=guard,
            accept=lambda: admission_of(
                messages.message_regenerate(user=user, pair_id=pair_id, model=fields.get("model") or None)
            ),
        )

    return http.admitted(request, admit)


@http.documented(
    "POST",
    operation_id="chat_message_edit",
    summary="Edit a user message: a new branch with the new text, answered (SSE)",
    request=MessageEditSerializer,
    responses={**_SSE_RESPONSE, **_ERRORS},
    tags=["chat"],
)
async def pair_edit(request: HttpRequest, pair_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/pairs/{id}/edit/: a new branch with the edited message, answered."""
    return await http.start_response(engine, lambda: _accept_edit(request, pair_id))


@http.documented(
    "POST",
    operation_id="chat_message_regenerate",
    summary="Answer a turn again: a new branch, the old answer kept (SSE)",
    request=RegenerateSerializer,
    responses={**_SSE_RESPONSE, **_ERRORS},
    tags=["chat"],
)
async def pair_regenerate(request: HttpRequest, pair_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/pairs/{id}/regenerate/: answer the same message again on a new branch."""
    return await http.start_response(engine, lambda: _accept_regenerate(request, pair_id))


@extend_schema_view(
    post=extend_schema(
        operation_id="chat_message_stream_ticket",
        summary="A single-use ticket for EventSource to resume an answer",
        request=None,
        responses={200: StreamTicketSerializer, 401: _ERRORS[401], 404: _ERRORS[404]},
        tags=["chat"],
    )
)
class MessageStreamTicketApi(http.StreamTicketApi):
    engine = engine

    def owned_record(self, request: Request, **kwargs: Any) -> Message:
        return assistant_message_get(user=request_user(request), message_id=kwargs["message_id"])
