"""Generating versions over Server-Sent Events.

Async views on the streaming engine (`backend.streaming`) with its event contract
(docs/streaming.md), resumable with `Last-Event-ID`:

- `message_start` {design_project_id, prototype_id, variant_id, version_id, version_number, model}
- `delta` {text} — the model's raw answer (the `<prototype_file>` page fills in live);
  deltas of an edit's full-rewrite fallback carry `"phase": "rewrite"`
- `snapshot` {text} — the whole raw answer so far, when a resume cannot give the exact suffix
- `message_stop` {stop_reason, model, usage, version_id, status} — status `complete` or
  `incomplete` (cut off by max tokens), `cancelled` after a stop
- `error` {code, message, retryable, model, usage, version_id, status} (terminal; the version
  is `error`, or `incomplete` when the stream broke after content)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request

from appauth.models import AppUser
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from backend.db import db_sync_to_async
from backend.streaming import http
from backend.streaming.engine import Admission
from backend.streaming.schema import StreamTicketSerializer, stop_responses, stream_responses
from prototypes import selectors
from prototypes.models import PrototypeVersion
from prototypes.serializers import CreateVariantInputSerializer, CreateVersionInputSerializer, GenerateInputSerializer
from prototypes.services import versions
from prototypes.services.generation import VersionRun, engine

# --- Schema pieces ---------------------------------------------------------------------------------------

_SSE = stream_responses(
    "Prototype",
    start={
        "design_project_id": serializers.UUIDField(),
        "prototype_id": serializers.UUIDField(),
        "variant_id": serializers.UUIDField(),
        "version_id": serializers.UUIDField(),
        "version_number": serializers.IntegerField(),
    },
    delta={"phase": serializers.CharField(required=False, help_text="`rewrite` during an edit's full rewrite.")},
    stop={"version_id": serializers.UUIDField(), "status": serializers.CharField()},
)
_ERRORS = {
    **ERRORS,
    402: OpenApiResponse(
        description="Monthly budget used up (`budget_exhausted`; details: reset_at, spent_tokens, spent_usd, "
        "limit_tokens, limit_usd)."
    ),
    409: OpenApiResponse(description="No complete version to start from, or Idempotency-Key reused."),
    429: OpenApiResponse(description="Too many generations running at once (Retry-After)."),
    503: OpenApiResponse(description="The server is restarting (`shutting_down`); retry."),
}
_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body streams the same version instead of generating again.",
)
TAGS = ["prototypes"]


# --- Views ------------------------------------------------------------------------------------------------------


def _admit(
    request: HttpRequest, user: AppUser, body: dict[str, object], accept: Callable[[], versions.Accepted]
) -> Admission:
    return engine.admit(
        user=user,
        idempotency_key=http.idempotency_key(request),
        fingerprint=versions.request_fingerprint(path=request.path, payload=body),
        accept=lambda: _admission(accept()),
    )


def _admission(accepted: versions.Accepted) -> Admission:
    return Admission(record_id=accepted.version.id, payload=VersionRun(accepted=accepted))


def _accept_generate(request: HttpRequest) -> Admission:
    user = http.authenticate(request)
    body = http.json_body(request)
    data = validated(GenerateInputSerializer, body)
    return _admit(
        request,
        user,
        body,
        lambda: versions.prototype_generate(
            user=user,
            project_id=data["design_project_id"],
            prompt=data["prompt"],
            name=data.get("name") or "",
            group_id=data.get("group_id"),
        ),
    )


@http.documented(
    "POST",
    operation_id="prototypes_generate",
    summary="Generate a prototype from a prompt: prototype, original variant, version 1 (SSE)",
    request=GenerateInputSerializer,
    parameters=[_IDEMPOTENCY],
    responses={**_SSE, **_ERRORS},
    tags=TAGS,
)
async def generate(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/prototypes/generate/"""
    return await http.start_response(engine, lambda: _accept_generate(request))


def _accept_variant(request: HttpRequest, id: UUID) -> Admission:
    user = http.authenticate(request)
    body = http.json_body(request, optional=True)
    data = validated(CreateVariantInputSerializer, body)
    return _admit(
        request,
        user,
        body,
        lambda: versions.variant_create(
            user=user,
            prototype_id=id,
            source_variant_id=data.get("source_variant_id"),
            prompt=data.get("prompt") or "",
            name=data.get("name") or "",
        ),
    )


@http.documented(
    "POST",
    operation_id="prototypes_create_variant",
    summary="A distinct alternative of a variant's latest complete version (SSE)",
    request=CreateVariantInputSerializer,
    parameters=[_IDEMPOTENCY],
    responses={**_SSE, **_ERRORS},
    tags=TAGS,
)
async def create_variant(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/prototypes/{id}/create-variant/"""
    return await http.start_response(engine, lambda: _accept_variant(request, id))


def _accept_version(request: HttpRequest, id: UUID) -> Admission:
    user = http.authenticate(request)
    body = http.json_body(request)
    data = validated(CreateVersionInputSerializer, body)
    return _admit(request, user, body, lambda: versions.version_create(user=user, variant_id=id, prompt=data["prompt"]))


@http.documented(
    "POST",
    operation_id="prototypes_create_version",
    summary="Edit the latest complete version of a variant by prompt: the next version (SSE)",
    request=CreateVersionInputSerializer,
    parameters=[_IDEMPOTENCY],
    responses={**_SSE, **_ERRORS},
    tags=TAGS,
)
async def create_version(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/variants/{id}/create-version/"""
    return await http.start_response(engine, lambda: _accept_version(request, id))


def _owned_version(request: HttpRequest, id: UUID) -> PrototypeVersion:
    return selectors.version_get(user=http.authenticate(request), version_id=id)


def _readable_version(request: HttpRequest, id: UUID) -> PrototypeVersion:
    user = http.stream_user(request, scope=engine.scope, record_id=id)
    return selectors.version_get(user=user, version_id=id)


@http.documented(
    "GET",
    operation_id="prototypes_version_stream",
    summary="Resume or follow a version's generation (SSE)",
    parameters=[
        OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER, description="Resume after this id."),
        OpenApiParameter("last_event_id", int, OpenApiParameter.QUERY, description="As Last-Event-ID."),
        OpenApiParameter("ticket", str, OpenApiParameter.QUERY, description="A stream ticket (EventSource)."),
    ],
    responses={**_SSE, 401: _ERRORS[401], 404: _ERRORS[404]},
    tags=TAGS,
)
async def version_stream(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """GET /api/v1/prototypes/versions/{id}/stream/: replay what the client missed, then follow."""
    version = await db_sync_to_async(_readable_version)(request, id)
    return http.resume_response(engine, request, version.id)


@http.documented(
    "POST",
    operation_id="prototypes_version_stop",
    summary="Stop a version's generation",
    request=None,
    responses={**stop_responses("PrototypeVersion"), 401: _ERRORS[401], 404: _ERRORS[404]},
    tags=TAGS,
)
async def version_stop(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/versions/{id}/stop/"""
    version = await db_sync_to_async(_owned_version)(request, id)
    return await http.stop_response(engine, version)


@extend_schema_view(
    post=extend_schema(
        operation_id="prototypes_version_stream_ticket",
        summary="A single-use ticket for EventSource to resume a version's generation",
        request=None,
        responses={200: StreamTicketSerializer, 401: _ERRORS[401], 404: _ERRORS[404]},
        tags=TAGS,
    )
)
class VersionStreamTicketApi(http.StreamTicketApi):
    engine = engine

    def owned_record(self, request: Request, **kwargs: Any) -> PrototypeVersion:
        return selectors.version_get(user=request_user(request), version_id=kwargs["id"])
