"""The ASGI lifespan wrapper runs the shutdown hooks and passes other traffic through."""

import asyncio

from aiassistant.asgi import application
from backend import lifespan

calls: list[str] = []


async def hook() -> None:
    calls.append("stopped")


async def broken_hook() -> None:
    raise RuntimeError("hook failed")


def test_shutdown_runs_every_hook_even_after_a_failing_one(settings):
    settings.ASGI_STARTUP_HOOKS = []  # the real ones freeze this process's heap (tested below)
    settings.ASGI_SHUTDOWN_HOOKS = [
        "tests.backend.test_lifespan.broken_hook",
        "tests.backend.test_lifespan.hook",
    ]
    calls.clear()
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return inbox.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(application({"type": "lifespan"}, receive, send))

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert calls == ["stopped"]


def test_the_configured_hooks_exist():
    from django.conf import settings
    from django.utils.module_loading import import_string

    for path in [*settings.ASGI_STARTUP_HOOKS, *settings.ASGI_SHUTDOWN_HOOKS]:
        assert asyncio.iscoroutinefunction(import_string(path))
    assert settings.ASGI_STARTUP_HOOKS[-1] == "backend.lifespan.freeze_heap"  # after everything it freezes
    assert lifespan.with_lifespan


def test_shutdown_closes_the_bedrock_clients_of_the_servers_loop():
    """Otherwise Ctrl-C prints aiohttp's "Unclosed client session" tracebacks at exit."""
    from backend.llm import bedrock

    async def serve_then_stop() -> tuple[bool, bool]:
        await bedrock.async_client(stream=True)
        opened = asyncio.get_running_loop() in bedrock._async_clients
        await lifespan.run_shutdown_hooks()
        return opened, asyncio.get_running_loop() in bedrock._async_clients

    opened, still_open = asyncio.run(serve_then_stop())

    assert opened and not still_open


def test_startup_warms_the_model_clients_and_freezes_the_heap_with_the_url_configuration():
    """Full garbage collections then skip what startup built (they paused the loop for ~50 ms)."""
    import gc

    from django.urls import get_resolver

    from backend.llm import bedrock, service

    async def start() -> bool:
        await service.awarm_clients()
        warmed = asyncio.get_running_loop() in bedrock._async_clients
        await lifespan.freeze_heap()
        await service.aclose_clients()
        return warmed

    before = gc.get_freeze_count()
    warmed = asyncio.run(start())  # (what it freezes stays frozen, as in a server process)

    patterns = get_resolver().url_patterns
    assert warmed and gc.get_freeze_count() > before
    assert all(tracked is not patterns for tracked in gc.get_objects())  # frozen: out of the collector's sight


_FREEZE_IN_A_NEW_PROCESS = """
import asyncio, gc, json, sys
import django
django.setup()
from backend import lifespan
loaded_before = "redis" in sys.modules
asyncio.run(lifespan.freeze_heap())
from redis.commands.core import BasicKeyCommands
from kombu.transport.redis import Transport
tracked = {id(o) for o in gc.get_objects()}
print(json.dumps({
    "loaded_before": loaded_before,
    "redis_frozen": id(BasicKeyCommands.get) not in tracked,
    "transport_frozen": id(Transport.driver_version) not in tracked,
}))
"""


def test_startup_freezes_the_libraries_the_first_requests_would_import():
    """The Redis client and the broker's transport are imported before the freeze: left to the
    first requests, their ~8,000 objects stayed tracked for the process's life."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-c", _FREEZE_IN_A_NEW_PROCESS], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts == {"loaded_before": False, "redis_frozen": True, "transport_frozen": True}
