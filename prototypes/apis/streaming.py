"""Generating versions over Server-Sent Events, and the sandboxed preview page.

Async views (see `backend.asyncapi`) with chat's event contract (DESIGN §6), ids = sequence
numbers, resumable with `Last-Event-ID`:

- `message_start` {design_project_id, prototype_id, variant_id, version_id, version_number, model}
- `delta` {text} — the model's raw answer (the `<prototype_file>` page fills in live);
  deltas of an edit's full-rewrite fallback carry `"phase": "rewrite"`
- `message_stop` {stop_reason, model, usage, version_id, status} — status `complete` or
  `incomplete` (cut off by max tokens), `cancelled` after a stop
- `error` {code, message, retryable} (terminal; the version is `error`, or `incomplete`
  when the stream broke after content)

The preview endpoint needs no login: its signed, expiring token is the capability.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from uuid import UUID

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from backend import asyncapi, errors
from backend.api.views import error_response
from backend.db import db_sync_to_async
from backend.sse import parse_last_event_id
from prototypes import selectors
from prototypes.models import PrototypeVersion
from prototypes.serializers import CreateVariantInputSerializer, CreateVersionInputSerializer, GenerateInputSerializer
from prototypes.services import generation, preview, versions
from prototypes.services.documents import render_document

# --- Schema documentation (never dispatched) -----------------------------------------------------------

_SSE = OpenApiResponse(
    response=OpenApiTypes.STR,
    description=(
        "`text/event-stream`, each event with `id:` (sequence number): `message_start` {design_project_id, "
        "prototype_id, variant_id, version_id, version_number, model}; `delta` {text, phase?}; `message_stop` "
        "{stop_reason, model, usage, version_id, status}; `error` {code, message, retryable} (terminal). "
        "`: ping` comments keep the connection open."
    ),
)
_ERRORS = {
    400: OpenApiResponse(description="Invalid input (error shape)."),
    401: OpenApiResponse(description="Not authenticated."),
    404: OpenApiResponse(description="Unknown or foreign id."),
    409: OpenApiResponse(description="No complete version to start from, or Idempotency-Key reused."),
    429: OpenApiResponse(description="Too many generations running at once (Retry-After)."),
}
_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body streams the same version instead of generating again.",
)
TAGS = ["prototypes"]


class GenerateDoc(APIView):
    @extend_schema(
        operation_id="prototypes_generate",
        summary="Generate a prototype from a prompt: prototype, original variant, version 1 (SSE)",
        request=GenerateInputSerializer,
        parameters=[_IDEMPOTENCY],
        responses={200: _SSE, **_ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class CreateVariantDoc(APIView):
    @extend_schema(
        operation_id="prototypes_create_variant",
        summary="A distinct alternative of a variant's latest complete version (SSE)",
        request=CreateVariantInputSerializer,
        parameters=[_IDEMPOTENCY],
        responses={200: _SSE, **_ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request, id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class CreateVersionDoc(APIView):
    @extend_schema(
        operation_id="prototypes_create_version",
        summary="Edit the latest complete version of a variant by prompt: the next version (SSE)",
        request=CreateVersionInputSerializer,
        parameters=[_IDEMPOTENCY],
        responses={200: _SSE, **_ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request, id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class VersionStreamDoc(APIView):
    @extend_schema(
        operation_id="prototypes_version_stream",
        summary="Resume or follow a version's generation (SSE)",
        parameters=[
            OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER, description="Resume after this id.")
        ],
        responses={200: _SSE, 401: _ERRORS[401], 404: _ERRORS[404]},
        tags=TAGS,
    )
    def get(self, request: Request, id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


class VersionStopDoc(APIView):
    @extend_schema(
        operation_id="prototypes_version_stop",
        summary="Stop a version's generation",
        request=None,
        responses={
            200: inline_serializer("PrototypeVersionStopped", {"status": serializers.CharField()}),
            202: inline_serializer("PrototypeVersionStopping", {"status": serializers.CharField()}),
            401: _ERRORS[401],
            404: _ERRORS[404],
        },
        tags=TAGS,
    )
    def post(self, request: Request, id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


# --- Event streams --------------------------------------------------------------------------------------------


async def _events(version_id: UUID, after: int) -> AsyncIterator[bytes]:
    position = asyncapi.LogPosition(after)
    async for chunk in asyncapi.follow_log(generation.log_key(version_id), position):
        yield chunk
    if not position.ended:
        # No log to follow (expired, or its process died): serve the stored version.
        load = functools.partial(db_sync_to_async(_stored_state), version_id)
        async for chunk in asyncapi.stored_events(load, position.last):
            yield chunk


def _stored_state(version_id: UUID) -> asyncapi.StoredState:
    """The stored version's raw answer and, once it ended, its terminal event."""
    version = PrototypeVersion.objects.get(id=version_id)
    if not version.is_terminal:
        return version.raw_output, None
    if version.status in (PrototypeVersion.Status.ERROR, PrototypeVersion.Status.INTERRUPTED) or (
        version.status == PrototypeVersion.Status.INCOMPLETE and version.error_code.startswith("llm_")
    ):
        error = {"code": version.error_code or version.status, "message": version.error_message, "retryable": True}
        return version.raw_output, ("error", error)
    usage = {
        "input_tokens": version.input_tokens,
        "output_tokens": version.output_tokens,
        "cache_read_tokens": version.cache_read_tokens,
        "cache_write_tokens": version.cache_write_tokens,
    }
    stop = {
        "stop_reason": version.stop_reason,
        "model": version.model_id,
        "usage": usage,
        "version_id": str(version.id),
        "status": version.status,
    }
    return version.raw_output, ("message_stop", stop)


def _start(accepted: versions.Accepted) -> HttpResponseBase:
    if not accepted.replayed:
        generation.generation_launch(accepted=accepted)
    return asyncapi.sse_response(_events(accepted.version.id, 0))


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 128:
        raise errors.ValidationFailed("Idempotency-Key is longer than 128 characters.", code="invalid_idempotency_key")
    return key or None


def _accept_once(
    request: HttpRequest, user: object, body: dict[str, object], accept: Callable[[], versions.Accepted]
) -> versions.Accepted:
    return versions.accept_once(
        user=user,
        idempotency_key=_idempotency_key(request),
        fingerprint=versions.request_fingerprint(path=request.path, payload=body),
        accept=accept,
    )


def _valid(serializer_class: type[serializers.Serializer], data: dict[str, object]) -> dict[str, object]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Views ------------------------------------------------------------------------------------------------------


def _accept_generate(request: HttpRequest) -> versions.Accepted:
    user = asyncapi.authenticate(request)
    body = asyncapi.json_body(request)
    data = _valid(GenerateInputSerializer, body)
    return _accept_once(
        request,
        user,
        body,
        lambda: versions.prototype_generate(
            user=user,
            project_id=data["design_project_id"],  # type: ignore[arg-type]
            prompt=str(data["prompt"]),
            name=str(data.get("name") or ""),
            group_id=data.get("group_id"),  # type: ignore[arg-type]
        ),
    )


@asyncapi.documented(GenerateDoc, "POST")
async def generate(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/prototypes/generate/"""
    return _start(await db_sync_to_async(_accept_generate)(request))


def _accept_variant(request: HttpRequest, id: UUID) -> versions.Accepted:
    user = asyncapi.authenticate(request)
    body = asyncapi.json_body(request, optional=True)
    data = _valid(CreateVariantInputSerializer, body)
    return _accept_once(
        request,
        user,
        body,
        lambda: versions.variant_create(
            user=user,
            prototype_id=id,
            source_variant_id=data.get("source_variant_id"),  # type: ignore[arg-type]
            prompt=str(data.get("prompt") or ""),
            name=str(data.get("name") or ""),
        ),
    )


@asyncapi.documented(CreateVariantDoc, "POST")
async def create_variant(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/prototypes/{id}/create-variant/"""
    return _start(await db_sync_to_async(_accept_variant)(request, id))


def _accept_version(request: HttpRequest, id: UUID) -> versions.Accepted:
    user = asyncapi.authenticate(request)
    body = asyncapi.json_body(request)
    data = _valid(CreateVersionInputSerializer, body)
    return _accept_once(
        request,
        user,
        body,
        lambda: versions.version_create(user=user, variant_id=id, prompt=str(data["prompt"])),
    )


@asyncapi.documented(CreateVersionDoc, "POST")
async def create_version(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/variants/{id}/create-version/"""
    return _start(await db_sync_to_async(_accept_version)(request, id))


def _owned_version(request: HttpRequest, id: UUID) -> PrototypeVersion:
    return selectors.version_get(user=asyncapi.authenticate(request), version_id=id)


@asyncapi.documented(VersionStreamDoc, "GET")
async def version_stream(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """GET /api/v1/prototypes/versions/{id}/stream/: replay what the client missed, then follow."""
    version = await db_sync_to_async(_owned_version)(request, id)
    after = parse_last_event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    return asyncapi.sse_response(_events(version.id, after))


@asyncapi.documented(VersionStopDoc, "POST")
async def version_stop(request: HttpRequest, id: UUID) -> HttpResponseBase:
    """POST /api/v1/prototypes/versions/{id}/stop/"""
    version = await db_sync_to_async(_owned_version)(request, id)
    if version.is_terminal:
        return asyncapi.json_response({"status": version.status})
    if await generation.generation_stop(version_id=version.id):
        version = await db_sync_to_async(PrototypeVersion.objects.get)(id=version.id)
        return asyncapi.json_response({"status": version.status})
    return asyncapi.json_response({"status": "stopping"}, status=202)


# --- Preview ------------------------------------------------------------------------------------------------------


@xframe_options_exempt
def preview_page(request: HttpRequest, token: str) -> HttpResponseBase:
    """GET /prototype-preview/{token}/: the version's page, sandboxed, no network, frameable only by the app."""
    if request.method not in ("GET", "HEAD"):
        response = error_response(errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'))
        response["Allow"] = "GET, HEAD"
        return response
    try:
        if not preview.served_from_preview_host(host=request.get_host()):
            raise errors.NotFound("Previews are served from the preview host.", code="preview_not_found")
        version_id = preview.preview_version_id(token=token)
        html = PrototypeVersion.objects.filter(id=version_id).values_list("html_content", flat=True).first()
        if html is None:
            raise errors.NotFound("No such preview.", code="preview_not_found")
    except errors.ApplicationError as error:
        response = error_response(error)
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex"
        return response
    page = HttpResponse(render_document(html), content_type="text/html; charset=utf-8")
    for name, value in preview.preview_headers().items():
        page[name] = value
    page["X-Robots-Tag"] = "noindex"
    return page
