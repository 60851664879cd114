"""ASGI lifespan for Django, which has none: run startup and shutdown hooks.

`ASGI_STARTUP_HOOKS` run when the server starts (the streaming engine sweeps what a dead
predecessor left and starts its maintenance loop). On SIGTERM uvicorn stops accepting
connections, lets open responses finish (up to its graceful timeout), then sends
`lifespan.shutdown`; the hooks named in `ASGI_SHUTDOWN_HOOKS` (dotted paths of async
callables) run then. `manage.py serve` runs the streaming engine's shutdown earlier, on the
signal itself, so that open streams end with their terminal event before the server waits
for them (see `backend.core.management.commands.serve`).
"""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.urls import get_resolver
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def run_hooks(paths: list[str]) -> None:
    """Await each hook in turn; one that fails is logged and does not stop the others."""
    for path in paths:
        try:
            await import_string(path)()
        except Exception:
            logger.exception("lifespan hook %s failed", path)


async def run_shutdown_hooks() -> None:
    await run_hooks(settings.ASGI_SHUTDOWN_HOOKS)


async def freeze_heap() -> None:
    """The last startup hook: move what startup built out of the garbage collector's sight.

    Every full collection scans every tracked object: with the modules, the URL configuration and
    botocore's service model of a warmed-up process, ~100,000 objects and 50-60 ms during which
    the event loop (every stream of the process) stands still, every twenty or so follow-up
    turns. Frozen (`gc.freeze()`, after collecting what is already garbage), they are never
    scanned again; objects created later are collected as usual. The URL configuration (every view,
    serializer and service module it imports, ~35,000 objects) is loaded first: Django imports it
    on the first request otherwise. So are the libraries the first requests import
    (`_load_clients_libraries`): left to them, ~8,000 objects stayed tracked for the process's
    life, two thirds of what a full collection at rest scanned (8-11 ms each).
    """
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - the property imports the URL configuration
    resolver.reverse_dict  # noqa: B018 - and this one builds the reverse lookups `reverse()` would on first use
    _load_clients_libraries()
    gc.collect()
    gc.freeze()


def _load_clients_libraries() -> None:
    """Import what the first requests would: the Redis client (the cache, rate limits and the
    event log import it on first use), Celery's result backend and its broker's transport.
    Nothing connects: a broker or a Redis that is down at startup changes nothing here."""
    if settings.REDIS_URL:
        importlib.import_module("redis.asyncio")  # and `redis`
    from celery import current_app

    current_app.backend  # noqa: B018 - built on first use
    connection = current_app.connection_for_write()
    try:
        connection.transport  # noqa: B018 - imports the transport's module; connects nothing
    except Exception:  # an unknown transport: publishing will say so, not startup
        logger.warning("could not load the task broker's transport", exc_info=True)
    finally:
        connection.release()


def with_lifespan(application: ASGIApp) -> ASGIApp:
    """`application`, answering the lifespan protocol and running the shutdown hooks."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await application(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await run_hooks(settings.ASGI_STARTUP_HOOKS)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await run_shutdown_hooks()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
