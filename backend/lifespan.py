"""ASGI lifespan for Django, which has none: run shutdown hooks when the server stops.

On SIGTERM uvicorn stops accepting connections, lets open responses finish (up to its graceful
timeout), then sends `lifespan.shutdown`. The hooks named in `ASGI_SHUTDOWN_HOOKS` (dotted paths
of async callables, e.g. "stop the generations of this process and mark them interrupted")
run then, so a deploy never leaves answers `streaming` until the sweeper finds them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def run_shutdown_hooks() -> None:
    for path in settings.ASGI_SHUTDOWN_HOOKS:
        try:
            await import_string(path)()
        except Exception:
            logger.exception("shutdown hook %s failed", path)


def with_lifespan(application: ASGIApp) -> ASGIApp:
    """`application`, answering the lifespan protocol and running the shutdown hooks."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await application(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await run_shutdown_hooks()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
