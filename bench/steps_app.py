"""The product's ASGI application with its admission steps timed (for `bench/chat_steps.py` only).

Wraps, by module attribute, the functions a new chat's turn passes through on its way to the
first token, plus every SQL statement and Redis command, and records each call's wall-clock
span. `POST /__bench_steps` returns the spans recorded so far (and forgets them). Nothing here
is imported by the product.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiassistant.asgi import application as product

Span = tuple[str, float, float]
SPANS: list[Span] = []


def _timed_sync(owner: Any, name: str, label: str) -> None:
    function = getattr(owner, name)

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPANS.append((label, started, time.perf_counter()))

    setattr(owner, name, timed)


def _timed_async(owner: Any, name: str, label: str) -> None:
    function = getattr(owner, name)

    @functools.wraps(function)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            SPANS.append((label, started, time.perf_counter()))

    setattr(owner, name, timed)


def _instrument() -> None:
    import redis.client
    from django.db.backends import utils

    from backend import ratelimit
    from backend.llm import bedrock, budget
    from backend.streaming import engine
    from backend.streaming import http as streaming_http
    from chat.apis import streaming
    from chat.services import generation, turn_sql

    _timed_async(streaming_http, "start_response", "the view: admitted, launched, response made")
    _timed_sync(streaming, "_accept_new", "admission (database thread)")
    _timed_sync(streaming, "validated", "the request body validated")
    _timed_sync(generation.ChatAdapter, "running_count", "running answers and the token's guard")
    _timed_sync(budget, "check_budget", "budget limits")
    _timed_sync(ratelimit, "hit", "message rate limit")
    _timed_sync(turn_sql, "turn_write_new", "the turn statement")
    _timed_sync(generation.ChatAdapter, "prepare", "context and tools")
    _timed_sync(engine.Engine, "launch", "the answer launched (event loop)")
    _timed_async(bedrock.BedrockAdapter, "aopen_stream", "the model call opened")

    execute = utils.CursorWrapper.execute

    def timed_execute(self: Any, sql: str, params: Any = None) -> Any:
        started = time.perf_counter()
        try:
            return execute(self, sql, params)
        finally:
            SPANS.append(("SQL " + " ".join(str(sql).split())[:48], started, time.perf_counter()))

    utils.CursorWrapper.execute = timed_execute

    command = redis.client.Redis.execute_command

    def timed_command(self: Any, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return command(self, *args, **options)
        finally:
            SPANS.append((f"Redis {args[0]}", started, time.perf_counter()))

    redis.client.Redis.execute_command = timed_command

    append_text = engine.Run.append_text

    def first_append(self: Any, text: str, **extra: Any) -> None:
        if not self.text_parts:
            now = time.perf_counter()
            SPANS.append(("first delta appended", now, now))
        append_text(self, text, **extra)

    engine.Run.append_text = first_append


_instrument()

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def application(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] == "http" and scope["path"] == "/__bench_steps":
        body = json.dumps(SPANS).encode()
        SPANS.clear()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["type"] != "http" or scope["method"] != "POST":
        await product(scope, receive, send)
        return
    now = time.perf_counter()
    SPANS.append(("request", now, now))
    first = True

    async def timed_send(message: dict[str, Any]) -> None:
        nonlocal first
        if first and message["type"] == "http.response.body" and b"event: delta" in message.get("body", b""):
            first = False
            sent = time.perf_counter()
            SPANS.append(("first delta sent", sent, sent))
        await send(message)

    await product(scope, receive, timed_send)
