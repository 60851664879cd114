"""Minimal HTTP/1.1 for the emulator: request parsing and response serialisation.

Supports what AWS SDK clients send: a request line, headers and a
``Content-Length`` body (no chunked request bodies), persistent connections
(HTTP/1.1 default; ``Connection: close`` honoured) and ``Expect:
100-continue``.  Responses are either complete (``Content-Length``) or
chunked streams written by the caller.
"""

from __future__ import annotations

import asyncio
import http
import json
import uuid
from dataclasses import dataclass
from typing import Any

from backend.llm.emulator.errors import ERROR_NAMESPACE, ApiError

MAX_HEADER_BYTES = 64 * 1024
_KNOWN_STATUSES = frozenset(status.value for status in http.HTTPStatus)
# Statuses outside the standard set that a provider sends (Anthropic's "overloaded").
_EXTRA_PHRASES = {529: "Overloaded"}
# 20 images of 3.75 MB, base64-encoded, plus documents and text: generous.
MAX_BODY_BYTES = 160 * 1024 * 1024


class BadRequest(Exception):
    """The request cannot be parsed; the connection is answered and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw (still percent-encoded), without the query string
    headers: dict[str, str]  # lowercased names
    body: bytes
    keep_alive: bool


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "Incomplete request head.") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "Request headers too large.") from None
    lines = head.decode("latin-1").strip("\r\n").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(400, "Malformed request line.") from None
    headers = _parse_headers(lines[1:])
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "Chunked request bodies are not supported; send Content-Length.")
    length = _content_length(headers)
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, target.split("?", 1)[0], headers, body, keep_alive)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, f"Malformed header line: {line!r}.")
        headers[name.strip().lower()] = value.strip()
    return headers


def _content_length(headers: dict[str, str]) -> int:
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise BadRequest(400, "Invalid Content-Length.")
    if int(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, "Request body too large.")
    return int(raw)


def new_request_id() -> str:
    return str(uuid.uuid4())


def response_head(status: int, headers: list[tuple[str, str]], *, close: bool = False) -> bytes:
    """Status line and headers, terminated by the blank line."""
    phrase = http.HTTPStatus(status).phrase if status in _KNOWN_STATUSES else _EXTRA_PHRASES[status]
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_response(
    status: int,
    body: Any,
    *,
    request_id: str,
    extra_headers: tuple[tuple[str, str], ...] = (),
    close: bool = False,
) -> bytes:
    """A complete JSON response with Content-Length and x-amzn-RequestId."""
    return plain_json_response(status, body, (("x-amzn-RequestId", request_id), *extra_headers), close=close)


def plain_json_response(
    status: int, body: Any, headers: tuple[tuple[str, str], ...] = (), *, close: bool = False
) -> bytes:
    """A complete JSON response with Content-Length and the given extra headers."""
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    head = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers]
    return response_head(status, head, close=close) + payload


def error_response(error: ApiError, *, request_id: str, close: bool = False) -> bytes:
    """A REST-JSON error: status, ``x-amzn-ErrorType: Code:namespace`` and ``{"message"}``."""
    error_type = ("x-amzn-ErrorType", f"{error.code}:{ERROR_NAMESPACE}")
    return json_response(error.status, error.body(), request_id=request_id, extra_headers=(error_type,), close=close)


def stream_head(request_id: str, *, close: bool = False) -> bytes:
    """Headers of a 200 event-stream response; the chunks follow."""
    headers = [
        ("Content-Type", "application/vnd.amazon.eventstream"),
        ("Transfer-Encoding", "chunked"),
        ("x-amzn-RequestId", request_id),
    ]
    return response_head(200, headers, close=close)


def sse_head(headers: tuple[tuple[str, str], ...] = (), *, close: bool = False) -> bytes:
    """Headers of a 200 ``text/event-stream`` response sent chunked (one chunk per event)."""
    head = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("Transfer-Encoding", "chunked"),
        *headers,
    ]
    return response_head(200, head, close=close)
