"""Body and header ceilings hold before Django reads a byte: 413/431 early, in the error shape."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from backend.asgi_limits import body_ceiling, with_request_limits
from tests.helpers import assert_error


class Recorder:
    """A downstream app that reads the whole body, and what reached it."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(*, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[dict, int, Recorder]:
    """One request through the guard; returns the response start, the bytes handed out, and the app behind."""
    downstream = Recorder()
    app = with_request_limits(downstream)
    sent: list[dict] = []
    handed_out = 0
    queue = list(chunks)

    async def receive() -> dict:
        nonlocal handed_out
        if not queue:
            return {"type": "http.disconnect"}
        chunk = queue.pop(0)
        handed_out += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    start["json"] = json.loads(body) if start["status"] != 200 else None
    return start, handed_out, downstream


def test_a_declared_200_mb_body_is_refused_without_reading_it():
    start, handed_out, downstream = run(
        path="/api/v1/auth/login/",
        headers=[(b"content-length", str(200 * 1024 * 1024).encode())],
        chunks=[b"x" * 65536] * 10,
    )

    assert start["status"] == 413
    assert start["json"]["error"]["code"] == "payload_too_large"
    assert handed_out == 0
    assert not downstream.called


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_ceiling(settings):
    settings.REQUEST_BODY_MAX_BYTES = 100_000
    chunks = [b"x" * 10_000] * 1000  # 10 MB, no Content-Length

    start, handed_out, _downstream = run(path="/api/v1/auth/register/", headers=[], chunks=chunks)

    assert start["status"] == 413
    assert set(start["json"]["error"]) == {"code", "message", "details"}
    assert handed_out <= 100_000 + 10_000


def test_uploads_get_their_own_larger_ceiling(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    settings.UPLOAD_BODY_MAX_BYTES = 50_000
    body = b"y" * 20_000

    upload, _, upload_app = run(
        path="/api/v1/chat/attachments/", headers=[(b"content-length", b"20000")], chunks=[body]
    )
    other, _, _ = run(path="/api/v1/chat/chats/", headers=[(b"content-length", b"20000")], chunks=[body])

    assert upload["status"] == 200
    assert upload_app.body == body
    assert other["status"] == 413
    assert body_ceiling("/api/v1/auth/profile/") == 50_000


def test_oversized_headers_are_a_431(settings):
    settings.REQUEST_HEADERS_MAX_BYTES = 8192
    start, _, downstream = run(path="/api/v1/chat/chats/", headers=[(b"cookie", b"a" * 9000)], chunks=[b""])

    assert start["status"] == 431
    assert start["json"]["error"]["code"] == "headers_too_large"
    assert not downstream.called


def test_a_body_within_the_ceiling_passes_untouched():
    start, _, downstream = run(path="/api/v1/auth/login/", headers=[(b"content-length", b"5")], chunks=[b"hello"])

    assert start["status"] == 200
    assert downstream.body == b"hello"


@pytest.fixture(scope="module")
def production_app_server() -> Iterator[str]:
    """The production ASGI application (aiassistant.asgi) served by uvicorn on a loopback port."""
    from aiassistant.asgi import application

    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_served_application_answers_a_streamed_oversized_body_early(production_app_server):
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"x" * (1024 * 1024)
        for _ in range(200):  # 200 MB, chunked
            sent += len(chunk)
            yield chunk

    with httpx.Client(timeout=30) as client:
        response = client.post(f"{production_app_server}/api/v1/auth/login/", content=body())

    assert_error(response, 413, "payload_too_large")
    assert sent < 50 * 1024 * 1024
