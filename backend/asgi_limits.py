"""Request limits enforced at the ASGI boundary, before Django reads anything.

Django's ASGI handler reads the whole body (spooling it to a temporary file past
`FILE_UPLOAD_MAX_MEMORY_SIZE`) before any view, middleware or `DATA_UPLOAD_MAX_MEMORY_SIZE`
check runs: a 200 MB body to an unauthenticated endpoint was written to disk in full first.
This guard wraps the Django application and:

- answers 431 when the request's headers together exceed `REQUEST_HEADERS_MAX_BYTES`;
- answers 413 at once when a declared `Content-Length` exceeds the route's ceiling, without
  reading a byte of the body;
- counts the bytes of a chunked (or understated) body as they arrive and answers 413 as soon
  as they pass the ceiling, so at most the ceiling is ever read.

The ceiling is `UPLOAD_BODY_MAX_BYTES` under `UPLOAD_PATH_PREFIXES` (the file uploads) and
`REQUEST_BODY_MAX_BYTES` everywhere else. The production reverse proxy (deploy/nginx.conf)
applies the same numbers in front; this guard is what holds when the app is reached directly.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from backend import errors
from backend.lifespan import ASGIApp, Receive, Scope, Send


class _BodyTooLarge(Exception):
    pass


def body_ceiling(path: str) -> int:
    """Largest request body accepted on `path`, in bytes."""
    if path.startswith(tuple(settings.UPLOAD_PATH_PREFIXES)):
        return int(settings.UPLOAD_BODY_MAX_BYTES)
    return int(settings.REQUEST_BODY_MAX_BYTES)


async def _reject(send: Send, error: errors.ApplicationError) -> None:
    body = json.dumps({"error": {"code": error.code, "message": error.message, "details": error.details}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(ceiling: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"The request body is larger than {ceiling} bytes, the limit of this endpoint.", details={"limit": ceiling}
    )


def with_request_limits(application: ASGIApp) -> ASGIApp:
    """`application` behind the header and body limits described above (HTTP only)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await application(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        if sum(len(name) + len(value) + 4 for name, value in headers) > settings.REQUEST_HEADERS_MAX_BYTES:
            await _reject(send, errors.HeadersTooLarge())
            return
        ceiling = body_ceiling(scope.get("path", ""))
        declared = [value for name, value in headers if name.lower() == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                await _reject(send, errors.MalformedRequest("Invalid Content-Length header."))
                return
            if length > ceiling:
                await _reject(send, _too_large(ceiling))
                return

        received = 0
        response_started = False

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > ceiling:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await application(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if response_started:  # a streaming view read its body late; nothing more can be said
                raise
            await _reject(send, _too_large(ceiling))

    return app
