"""Sending messages and streaming answers over Server-Sent Events.

These are async Django views (a sync iterator would be buffered whole under ASGI). They
authenticate with the same DRF authentication classes as the rest of the API (Knox token or
session + CSRF), validate with DRF serializers, call one service, then stream the message's
event log. Each view function carries a documentation-only DRF view as `.cls`, so the
endpoints appear in the OpenAPI schema with their request and event shapes.

Event contract (DESIGN §6): `message_start`, `delta`, `message_stop`, `error` (terminal), each
with `id:` = its sequence number; `: ping` comments keep idle connections open. Resume with
`GET messages/{assistant_message_id}/stream/` and `Last-Event-ID`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from backend import errors
from backend.asyncapi import (
    LogPosition,
    StoredState,
    authenticate,
    documented,
    follow_log,
    json_response,
    sse_response,
    stored_events,
)
from backend.db import db_sync_to_async
from backend.sse import parse_last_event_id
from chat.models import Message
from chat.services import generation, messages
from chat.services.context import BuiltContext, context_build

# --- Request validation -------------------------------------------------------------------------------


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


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


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
    try:
        body = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.MalformedRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.MalformedRequest("The body must be a JSON object.")
    return body, []


def _sse_response(message_id: UUID, after: int) -> StreamingHttpResponse:
    return sse_response(_event_stream(message_id, after))


async def _event_stream(message_id: UUID, after: int) -> AsyncIterator[bytes]:
    """The message's events after `after`: live from its log, else from the database."""
    position = LogPosition(after)
    async for chunk in follow_log(str(message_id), position):
        yield chunk
    if not position.ended:
        # No log to follow (expired, or its process died): serve the stored message.
        load = functools.partial(db_sync_to_async(_stored_state), message_id)
        async for chunk in stored_events(load, position.last):
            yield chunk


def _stored_state(message_id: UUID) -> StoredState:
    """The stored message's text and, once it ended, its terminal event."""
    message = Message.objects.get(id=message_id)
    if not message.is_terminal:
        return message.text, None
    if message.status in (Message.Status.COMPLETE, Message.Status.CANCELLED):
        usage = {
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "cache_read_tokens": message.cache_read_tokens,
            "cache_write_tokens": message.cache_write_tokens,
        }
        return message.text, (
            "message_stop",
            {"stop_reason": message.stop_reason, "model": message.model_id, "usage": usage},
        )
    error = {"code": message.error_code or message.status, "message": message.error_message, "retryable": True}
    return message.text, ("error", error)


def _owned_assistant_message(*, user: Any, message_id: UUID) -> Message:
    message = Message.objects.filter(id=message_id, role=Message.Role.ASSISTANT, pair__chat__user=user).first()
    if message is None:
        raise errors.NotFound("No such message.", code="message_not_found")
    return message


def _with_context(accepted: messages.Accepted) -> tuple[messages.Accepted, BuiltContext | None]:
    """Assemble the context in the same thread hop as accepting (nothing to build for a replay)."""
    if accepted.replayed:
        return accepted, None
    built = context_build(
        assistant_message=accepted.assistant_message, pair=accepted.pair, user_message=accepted.user_message
    )
    return accepted, built


def _start(accepted_and_context: tuple[messages.Accepted, BuiltContext | None]) -> StreamingHttpResponse:
    accepted, built = accepted_and_context
    if not accepted.replayed:
        generation.generation_launch(
            assistant_message=accepted.assistant_message, ids=generation.stream_ids(accepted=accepted), built=built
        )
    return _sse_response(accepted.assistant_message.id, 0)


# --- Schema documentation (never dispatched: the async functions below serve the requests) -----------

_SSE_RESPONSE = OpenApiResponse(
    response=OpenApiTypes.STR,
    description=(
        "`text/event-stream`. Events, each with `id:` (sequence number): "
        "`message_start` {chat_id, pair_id, user_message_id, assistant_message_id, model, omitted_pair_ids}; "
        "`delta` {text}; `message_stop` {stop_reason, model, usage {input_tokens, output_tokens, "
        "cache_read_tokens, cache_write_tokens}}; `error` {code, message, retryable} (terminal). "
        "`: ping` comments keep the connection open."
    ),
)
_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body replays the same answer instead of generating again.",
)
_LAST_EVENT_ID = OpenApiParameter(
    "Last-Event-ID", int, OpenApiParameter.HEADER, description="Resume after this event sequence number."
)
_ERRORS = {
    400: OpenApiResponse(description="Invalid input (error shape)."),
    401: OpenApiResponse(description="Not authenticated."),
    404: OpenApiResponse(description="Unknown or foreign id."),
    409: OpenApiResponse(description="Idempotency-Key reused for another request."),
    413: OpenApiResponse(description="Message or attachment too large."),
    429: OpenApiResponse(description="Rate limit or concurrent-generation limit (Retry-After)."),
}


class MessageCreateDoc(APIView):
    @extend_schema(
        operation_id="chat_message_send",
        summary="Send a message and stream the answer (SSE)",
        request={"application/json": MessageCreateSerializer, "multipart/form-data": MessageCreateSerializer},
        parameters=[_IDEMPOTENCY],
        responses={200: _SSE_RESPONSE, **_ERRORS},
        tags=["chat"],
    )
    def post(self, request: Request) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class MessageStreamDoc(APIView):
    @extend_schema(
        operation_id="chat_message_stream",
        summary="Resume or follow an answer (SSE)",
        parameters=[_LAST_EVENT_ID],
        responses={200: _SSE_RESPONSE, 401: _ERRORS[401], 404: _ERRORS[404]},
        tags=["chat"],
    )
    def get(self, request: Request, message_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class MessageStopDoc(APIView):
    @extend_schema(
        operation_id="chat_message_stop",
        summary="Stop generating an answer",
        request=None,
        responses={
            200: inline_serializer(
                "MessageStopped", {"status": serializers.CharField(), "text": serializers.CharField()}
            ),
            202: inline_serializer("MessageStopping", {"status": serializers.CharField()}),
            401: _ERRORS[401],
            404: _ERRORS[404],
        },
        tags=["chat"],
    )
    def post(self, request: Request, message_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class PairEditDoc(APIView):
    @extend_schema(
        operation_id="chat_message_edit",
        summary="Edit a user message: a new branch with the new text, answered (SSE)",
        request=MessageEditSerializer,
        responses={200: _SSE_RESPONSE, **_ERRORS},
        tags=["chat"],
    )
    def post(self, request: Request, pair_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class PairRegenerateDoc(APIView):
    @extend_schema(
        operation_id="chat_message_regenerate",
        summary="Answer a turn again: a new branch, the old answer kept (SSE)",
        request=RegenerateSerializer,
        responses={200: _SSE_RESPONSE, **_ERRORS},
        tags=["chat"],
    )
    def post(self, request: Request, pair_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


# --- Views ----------------------------------------------------------------------------------------------


def _accept_new(request: HttpRequest) -> tuple[messages.Accepted, BuiltContext | None]:
    user = authenticate(request)
    data, files = _payload(request)
    validated = _validated(MessageCreateSerializer, data)
    attachment_ids: list[UUID] = list(validated.get("attachments") or [])
    if files:
        from chat.services.attachments import attachment_create

        attachment_ids += [
            attachment_create(user=user, upload=upload, alias=validated.get("model") or None).id for upload in files
        ]
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 128:
        raise errors.ValidationFailed("Idempotency-Key is longer than 128 characters.", code="invalid_idempotency_key")
    accepted = messages.message_send(
        user=user,
        content=validated["content"],
        chat_id=validated.get("chat_id"),
        project_id=validated.get("project_id"),
        parent_pair_id=validated.get("parent_pair_id"),
        model=validated.get("model") or None,
        attachment_ids=attachment_ids,
        idempotency_key=key or None,
        fingerprint=messages.request_fingerprint({**data, "attachments": [str(i) for i in attachment_ids]}),
    )
    return _with_context(accepted)


@documented(MessageCreateDoc, "POST")
async def message_create(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/chat/messages/: accept the message, start the answer, stream it."""
    accepted = await db_sync_to_async(_accept_new)(request)
    return _start(accepted)


def _stream_target(request: HttpRequest, message_id: UUID) -> Message:
    return _owned_assistant_message(user=authenticate(request), message_id=message_id)


@documented(MessageStreamDoc, "GET")
async def message_stream(request: HttpRequest, message_id: UUID) -> HttpResponseBase:
    """GET /api/v1/chat/messages/{id}/stream/: replay what the client missed, then follow."""
    message = await db_sync_to_async(_stream_target)(request, message_id)
    after = parse_last_event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    return _sse_response(message.id, after)


@documented(MessageStopDoc, "POST")
async def message_stop(request: HttpRequest, message_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/messages/{id}/stop/: stop the answer; it ends `cancelled` with its partial text."""
    message = await db_sync_to_async(_stream_target)(request, message_id)
    if message.is_terminal:
        return json_response({"status": message.status, "text": message.text})
    stopped_here = await generation.generation_stop(message_id=message.id)
    if stopped_here:
        message = await db_sync_to_async(Message.objects.get)(id=message.id)
        return json_response({"status": message.status, "text": message.text})
    return json_response({"status": "stopping"}, status=202)


def _accept_edit(request: HttpRequest, pair_id: UUID) -> tuple[messages.Accepted, BuiltContext | None]:
    user = authenticate(request)
    data, _ = _payload(request)
    validated = _validated(MessageEditSerializer, data)
    return _with_context(
        messages.message_edit(
            user=user, pair_id=pair_id, content=validated["content"], model=validated.get("model") or None
        )
    )


def _accept_regenerate(request: HttpRequest, pair_id: UUID) -> tuple[messages.Accepted, BuiltContext | None]:
    user = authenticate(request)
    data, _ = _payload(request) if request.body else ({}, [])
    validated = _validated(RegenerateSerializer, data)
    return _with_context(messages.message_regenerate(user=user, pair_id=pair_id, model=validated.get("model") or None))


@documented(PairEditDoc, "POST")
async def pair_edit(request: HttpRequest, pair_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/pairs/{id}/edit/: a new branch with the edited message, answered."""
    return _start(await db_sync_to_async(_accept_edit)(request, pair_id))


@documented(PairRegenerateDoc, "POST")
async def pair_regenerate(request: HttpRequest, pair_id: UUID) -> HttpResponseBase:
    """POST /api/v1/chat/pairs/{id}/regenerate/: answer the same message again on a new branch."""
    return _start(await db_sync_to_async(_accept_regenerate)(request, pair_id))
