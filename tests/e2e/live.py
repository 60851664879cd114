"""The real ASGI application served by uvicorn on a loopback port, and users with tokens for it.

Fixtures and helpers shared by the end-to-end tests (tests/e2e), the fuzz run and the Celery worker
test; the e2e conftest only wires them up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from tests.factories import UserFactory


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
    from chat.apis.asgi_reads import with_fast_reads

    # Static files too (as `make run` does): browser tests load the pages' scripts and styles.
    # Token clients' reads and streams take the production fast paths (aiassistant/asgi.py).
    application = ASGIStaticFilesHandler(get_asgi_application())
    live, stop = serve_in_thread(with_fast_reads(with_streaming_fast_path(application)))
    yield live
    stop()


def wait_for_generations_to_end(timeout: float = 15.0) -> None:
    """Wait until the live server's generations have written their terminal state.

    A test may end as soon as its page shows what it checks, while the answer's terminal write
    (whose foreign-key checks take row-share locks) is still running; the flush that follows
    truncates every table and the two deadlocked (seen once: the admin assistant's chart shown
    before its answer's terminal write), failing every later test on a dirty database.
    """
    from adminassistant.services.generation import engine as adminassistant_engine
    from chat.services.generation import engine as chat_engine
    from prototypes.services.generation import engine as prototypes_engine
    from sitehelp.services.generation import engine as sitehelp_engine

    engines = (chat_engine, prototypes_engine, adminassistant_engine, sitehelp_engine)
    deadline = time.monotonic() + timeout
    while any(engine.running for engine in engines) and time.monotonic() < deadline:
        time.sleep(0.05)


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


def make_user(email: str = "alice@example.com") -> tuple[Any, str]:
    """A user and a Knox token for them."""
    from appauth.services.audit import ClientInfo
    from appauth.services.tokens import token_create

    user = UserFactory(email=email)
    _, token = token_create(user=user, client=ClientInfo(ip="127.0.0.1", user_agent="tests"))
    return user, token
