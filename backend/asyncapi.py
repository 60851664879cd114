"""Glue for async (streaming) Django views that behave like the rest of the DRF API.

Streaming responses must come from `async def` views (a sync iterator is buffered whole under
ASGI), which DRF's APIView cannot be. These helpers give such views the API's behaviour:

- `authenticate(request)`: the user through DRF's authentication classes (Knox token, or
  session with CSRF enforced by SessionAuthentication);
- `documented(DocView, "POST")`: refuses other methods and renders application errors in the
  API's error shape; attaches a documentation-only APIView as `.cls`, so drf-spectacular
  lists the async view with its request and response shapes;
- `json_body(request)`: the JSON object body, or a 400/415 in the error shape;
- `sse_response(events)`: a `text/event-stream` response with the SSE headers;
- `follow_log(key, after)`: a generation's event log as SSE bytes (`backend.streams`),
  ending after its terminal event; the caller falls back to its stored record afterwards;
- `stored_events(load, after)`: that fallback, the stored record as SSE bytes.

Extracted from `chat.apis.streaming` so every app streams the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from backend import errors, streams
from backend.api.exception_handler import translate
from backend.api.views import error_response
from backend.sse import KEEPALIVE, SSE_HEADERS, encode_event

ViewFunction = Callable[..., Coroutine[Any, Any, HttpResponseBase]]


def authenticate(request: HttpRequest) -> Any:
    """The authenticated user (sync: call through `sync_to_async`); raises NotAuthenticated."""
    authentication_classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    authenticators = [cls() for cls in authentication_classes]
    user = Request(request, authenticators=authenticators).user
    if not user or not user.is_authenticated:
        raise errors.NotAuthenticated()
    return user


def api_error(exc: Exception) -> HttpResponse:
    """An application or DRF exception as the API's error response (anything else re-raised)."""
    error = translate(exc)
    if error is None:
        raise exc
    response = error_response(error)
    if isinstance(exc, (errors.NotAuthenticated, drf_exceptions.NotAuthenticated)):
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def documented(doc_view: type[APIView], *methods: str) -> Callable[[ViewFunction], ViewFunction]:
    """Mark an async view for the OpenAPI schema and refuse other methods in the error shape."""

    def decorate(view: ViewFunction) -> ViewFunction:
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = error_response(errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'))
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return await view(request, *args, **kwargs)
            except (errors.ApplicationError, drf_exceptions.APIException) as exc:
                return api_error(exc)

        wrapper.cls = doc_view  # type: ignore[attr-defined]
        wrapper.initkwargs = {}  # type: ignore[attr-defined]
        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return csrf_exempt(wrapper)

    return decorate


def json_body(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (`{}` for an empty body when `optional`)."""
    if optional and not request.body:
        return {}
    if (request.content_type or "") != "application/json":
        raise errors.UnsupportedMediaType("Send application/json.")
    try:
        body = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.MalformedRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.MalformedRequest("The body must be a JSON object.")
    return body


def json_response(data: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


def sse_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


class LogPosition:
    """The last sequence number sent by `follow_log` (where a stored-record fallback continues)."""

    def __init__(self, after: int) -> None:
        self.last = after
        self.ended = False


async def follow_log(key: str, position: LogPosition) -> AsyncIterator[bytes]:
    """The events of log `key` after `position.last`, live, as SSE; keep-alive comments while idle."""
    async for event in streams.registry.follow(key, position.last):
        if event is None:
            yield KEEPALIVE
            continue
        position.last = event.seq
        yield encode_event(event.seq, event.type, event.data)
        if event.type in streams.TERMINAL_EVENTS:
            position.ended = True
            return


StoredState = tuple[str, tuple[str, dict[str, Any]] | None]


async def stored_events(
    load: Callable[[], Awaitable[StoredState]], after: int, *, poll_seconds: float = 1.0
) -> AsyncIterator[bytes]:
    """A generation served from its stored record, for when there is no log to follow.

    `load()` returns the text stored so far and, once the record is terminal, its terminal event
    `(type, data)`. New text goes out as `delta` events (marked `replayed`); a record still being
    generated elsewhere is polled every `poll_seconds` until it ends. Event ids continue after `after`.
    """
    sent = 0
    seq = after
    while True:
        text, terminal = await load()
        if len(text) > sent:
            seq += 1
            yield encode_event(seq, "delta", {"text": text[sent:], "replayed": True})
            sent = len(text)
        if terminal is not None:
            yield encode_event(seq + 1, *terminal)
            return
        yield KEEPALIVE
        await asyncio.sleep(poll_seconds)
