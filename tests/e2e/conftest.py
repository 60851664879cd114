"""End-to-end fixtures: the real ASGI application served by uvicorn on a loopback port.

Streaming, disconnects and resumption only behave as in production through a real server, so
these tests talk HTTP to uvicorn (in a thread, with its own event loop) and the LLM layer talks
HTTP to the emulator. The database is shared through real commits (transactional tests).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from django.contrib.auth import get_user_model

from tests.sse import SSEEvent, parse_sse


@dataclass
class LiveServer:
    url: str
    loop: asyncio.AbstractEventLoop


def serve_in_thread(application: Any, *, owns_stream_registry: bool = True) -> tuple[LiveServer, Any]:
    """`application` under uvicorn on a free loopback port, in a thread; returns it and its stopper.

    The process-wide stream registry lives on one server's loop: only that server closes it.
    """
    config = uvicorn.Config(application, host="127.0.0.1", port=0, loop="asyncio", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    loop_holder: dict[str, asyncio.AbstractEventLoop] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loop_holder["loop"] = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    live = LiveServer(url=f"http://127.0.0.1:{port}", loop=loop_holder["loop"])

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(_close_loop_resources(owns_stream_registry), live.loop).result(timeout=10)
        server.should_exit = True
        thread.join(timeout=10)

    return live, stop


@pytest.fixture(scope="session")
def live_server_asgi() -> Iterator[LiveServer]:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    from backend.streaming.asgi import with_streaming_fast_path

    # Static files too (as `make run` does): browser tests load the pages' scripts and styles.
    # The streaming views of token clients take the production fast path (aiassistant/asgi.py).
    live, stop = serve_in_thread(with_streaming_fast_path(ASGIStaticFilesHandler(get_asgi_application())))
    yield live
    stop()


async def _close_loop_resources(stream_registry: bool = True) -> None:
    """What the server's event loop holds open: Bedrock clients, the Redis stream connection."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    from backend.llm import bedrock
    from backend.streaming.engine import maintenance
    from backend.streaming.log import logs

    await bedrock.aclose_clients()
    if stream_registry:
        await maintenance.aclose()
        await logs.aclose()
    await sync_to_async(connections.close_all)()  # the server's database connection


@pytest.fixture
def live(live_server_asgi: LiveServer, transactional_db: None, emulator: Any) -> LiveServer:
    return live_server_asgi


def make_user(email: str = "alice@example.com") -> tuple[Any, str]:
    """A user and a Knox token for them."""
    from appauth.services.audit import ClientInfo
    from appauth.services.tokens import token_create

    user = get_user_model().objects.create_user(email, "correct-horse-battery-staple")
    _, token = token_create(user=user, client=ClientInfo(ip="127.0.0.1", user_agent="tests"))
    return user, token


@pytest.fixture
def alice() -> tuple[Any, str]:
    return make_user("alice@example.com")


@pytest.fixture
def bob() -> tuple[Any, str]:
    return make_user("bob@example.com")


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", **extra}


def stream_events(
    live: LiveServer, method: str, path: str, token: str, *, json_body: Any = None, extra_headers: dict | None = None
) -> list[SSEEvent]:
    """Every event of one SSE response, to its end."""
    request_headers = headers(token, **(extra_headers or {}))
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream(method, path, json=json_body, headers=request_headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))
