"""Assertions shared by the whole suite."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """`response` is an error in the one error shape, `{"error": {"code", "message", "details"}}`,
    with this status and code; returns the inner `error` object for further checks.

    Works for Django/DRF test responses and httpx responses alike.
    """
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    return body["error"]


def asgi_scope(path: str, *, method: str = "POST", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An ASGI HTTP scope for `path` on `testserver`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def asgi_call(application: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Call `application` with `scope` and `body` on a new event loop: status, headers, body."""

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.Event().wait()  # the client stays connected
            return {}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await application(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], headers, body
