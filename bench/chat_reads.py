"""Read paths of the chat API: list and history pages, authentication, rate limits, context history.

Run through `python bench/chat.py reads` (it prepares the database and the emulator). Each figure
has its baseline measured in the same run:

- HTTP: the product under uvicorn (one worker, as `bench/chat.py` serves it), one server at a
  time, back to back, on the same data: the ORM + DRF path with per-request token lookups (the
  settings `CHAT_SQL_PAGES=0`, `CHAT_HISTORY_CACHE_SECONDS=0`, `AUTH_TOKEN_CACHE_SECONDS=0`),
  the database-rendered pages without the page cache, and the defaults; then the last two again
  on `--workers` uvicorn workers when that is more than one, and the floor server's two pages
  on as many (`bench/floor_app.py`). Server CPU per request is read from /proc (the server's
  processes; PostgreSQL's own CPU is in its own column).
- In process: token authentication from the database and from the cache; a rate-limit check as
  cache-API steps and as the one-round-trip script; the history of a follow-up turn in a
  200-message chat through the ORM and from the cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import free_port, postgres_cpu_seconds, raw_get_load, summary, tree_cpu_seconds, uvicorn_server

# The old read path, kept callable through settings, as the baseline.
BEFORE = {"CHAT_SQL_PAGES": "0", "CHAT_HISTORY_CACHE_SECONDS": "0", "AUTH_TOKEN_CACHE_SECONDS": "0"}
UNCACHED = {"CHAT_HISTORY_CACHE_SECONDS": "0"}
AFTER: dict[str, str] = {}


def fmt(value: float) -> str:
    return f"{value:.2f}"


async def _measure(url: str, pid: int, path: str, token: str, clients: int, seconds: float) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Token {token}"}
    await raw_get_load(host, int(port), path, headers=headers, clients=clients, seconds=1.0)  # warm-up
    cpu_before, pg_before = tree_cpu_seconds(pid), postgres_cpu_seconds()
    count, elapsed, latencies, failures = await raw_get_load(
        host, int(port), path, headers=headers, clients=clients, seconds=seconds
    )
    cpu, pg = tree_cpu_seconds(pid) - cpu_before, postgres_cpu_seconds() - pg_before
    stats = summary(latencies)
    return {
        "rate": count / elapsed,
        "p50": stats["p50"],
        "p99": stats["p99"],
        "cpu_ms": cpu * 1000 / max(count, 1),
        "pg_ms": pg * 1000 / max(count, 1),
        "failed": failures,
    }


def http_reads(
    emulator_url: str,
    env: dict[str, str],
    token: str,
    chat_id: str,
    total: int,
    clients: int,
    seconds: float,
    workers: int = 1,
) -> str:
    import uvloop

    paths = {
        "list": "/api/v1/chat/chats/",
        "history": f"/api/v1/chat/chats/{chat_id}/messages/",
    }
    runs = [
        ("before: ORM + DRF serializers, token looked up per request", BEFORE, ["list", "history"], 1),
        ("after, history page cache off: PostgreSQL renders the page", UNCACHED, ["history"], 1),
        ("after (defaults): PostgreSQL renders the page, history page cached", AFTER, ["list", "history"], 1),
    ]
    if workers > 1:
        runs += [
            (f"after, history page cache off, {workers} workers", UNCACHED, ["history"], workers),
            (f"after (defaults), {workers} workers", AFTER, ["list", "history"], workers),
        ]
    results: dict[tuple[str, str], dict[str, float]] = {}
    for name, overrides, endpoints, server_workers in runs:
        with uvicorn_server(emulator_url, {**env, **overrides}, workers=server_workers) as (url, pid):
            for endpoint in endpoints:
                results[(name, endpoint)] = uvloop.run(_measure(url, pid, paths[endpoint], token, clients, seconds))
    from bench.chat import floor_server

    floor_paths = {"list": "/chats/", "history": f"/chats/{chat_id}/messages/"}
    floor_name = f"floor (`bench/floor_app.py`), {workers} worker{'s' if workers > 1 else ''}"
    with floor_server(emulator_url, workers=workers, port=free_port()) as (url, pid):
        for endpoint, path in floor_paths.items():
            results[(floor_name, endpoint)] = uvloop.run(_measure(url, pid, path, token, clients, seconds))
    lines = [
        f"### Chat list and history page, {clients} clients, {total:,} messages in the database",
        "",
        f"{clients} keep-alive connections for {seconds:.0f} s per row (after 1 s of warm-up), one uvicorn",
        "worker unless the row says otherwise, one server at a time on the same data. The list is 20 chats;",
        "the history page is the last 50 turns (100 messages) of a 2,000-message chat. CPU = the server",
        "processes' CPU time per request; PostgreSQL's, that of all its processes, in its own column.",
        f"Load average when the measurements ended: {' / '.join(f'{value:.1f}' for value in os.getloadavg())}",
        "(1 / 5 / 15 min; the machine is shared, and the load client and PostgreSQL run on the same two cores).",
        "",
        "| endpoint | path | requests/s | p50 ms | p99 ms | server CPU ms/request | PostgreSQL CPU ms/request "
        "| failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, endpoint), row in results.items():
        label = "chat list" if endpoint == "list" else "history page"
        lines.append(
            f"| {label} | {name} | {row['rate']:.0f} | {fmt(row['p50'])} | {fmt(row['p99'])} "
            f"| {fmt(row['cpu_ms'])} | {fmt(row['pg_ms'])} | {row['failed']:.0f} |"
        )
    before_list, after_list = results[(runs[0][0], "list")], results[(runs[2][0], "list")]
    before_history = results[(runs[0][0], "history")]
    uncached, cached = results[(runs[1][0], "history")], results[(runs[2][0], "history")]
    lines += [
        "",
        f"Ratios against the before path in this run: chat list {after_list['rate'] / before_list['rate']:.1f}x "
        f"requests/s and {before_list['cpu_ms'] / after_list['cpu_ms']:.1f}x less CPU per request; history "
        f"page {uncached['rate'] / before_history['rate']:.1f}x (uncached) and "
        f"{cached['rate'] / before_history['rate']:.1f}x (cached) requests/s.",
        "",
        "The floor answers both pages from one statement that authenticates the token and has",
        "PostgreSQL render the page (the 20 latest chats; the messages of the chat's 50 deepest turns,",
        "without the product's branch walk, cursors, links or page cache), in a bare ASGI application on the event",
        "loop: what a Python server on the same database cannot go below without a cache.",
        "",
        "Goals: chat list ≥ 1,000 requests/s; history page ≥ 1,000 requests/s cached, ≥ 500 uncached;",
        "p99 ≤ 20 ms.",
        "",
    ]
    return "\n".join(lines)


def http_reads_against(
    emulator_url: str,
    env: dict[str, str],
    token: str,
    chat_id: str,
    clients: int,
    seconds: float,
    workers: int,
    against: str,
    rounds: int = 2,
) -> str:
    """The read endpoints of this tree and of revision `against`, one server at a time, interleaved.

    Both trees serve the same data with their defaults on `workers` uvicorn workers; each round
    measures the other tree, then this one, so both see the same machine (shared, noisy) in turn.
    """
    import uvloop

    from bench.chat_tokens import worktree

    paths = {
        "chat list": ("/api/v1/chat/chats/", AFTER),
        "history page, cached": (f"/api/v1/chat/chats/{chat_id}/messages/", AFTER),
        "history page, uncached": (f"/api/v1/chat/chats/{chat_id}/messages/", UNCACHED),
    }
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with worktree(against) as (old_tree, commit):
        trees = [(commit, old_tree), ("this tree", None)]
        for _ in range(rounds):
            for label, tree in trees:
                for endpoint, (path, overrides) in paths.items():
                    extra = {"tree": tree} if tree is not None else {}
                    with uvicorn_server(emulator_url, {**env, **overrides}, workers=workers, **extra) as (url, pid):
                        row = uvloop.run(_measure(url, pid, path, token, clients, seconds))
                    results.setdefault((label, endpoint), []).append(row)
    lines = [
        f"### This tree against {commit}, {workers} workers, {clients} clients ({rounds} interleaved rounds)",
        "",
        f"Each row: {seconds:.0f} s per endpoint and round after 1 s of warm-up, one server at a time, the trees",
        "taking turns; the figures are the mean of the rounds (requests/s, CPU) and the worst",
        "round (p99). Same data, defaults of each tree (the uncached row turns the history page cache off).",
        "",
        "| endpoint | tree | requests/s | p50 ms | p99 ms | server CPU ms/request | PostgreSQL CPU ms/request "
        "| failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary_parts = []
    for endpoint in paths:
        means = {}
        for label, _ in trees:
            rows = results[(label, endpoint)]
            mean = {
                "rate": sum(row["rate"] for row in rows) / len(rows),
                "p50": sum(row["p50"] for row in rows) / len(rows),
                "p99": max(row["p99"] for row in rows),
                "cpu_ms": sum(row["cpu_ms"] for row in rows) / len(rows),
                "pg_ms": sum(row["pg_ms"] for row in rows) / len(rows),
                "failed": sum(row["failed"] for row in rows),
            }
            means[label] = mean
            lines.append(
                f"| {endpoint} | {label} | {mean['rate']:.0f} | {fmt(mean['p50'])} | {fmt(mean['p99'])} "
                f"| {fmt(mean['cpu_ms'])} | {fmt(mean['pg_ms'])} | {mean['failed']:.0f} |"
            )
        before, after = means[commit], means["this tree"]
        summary_parts.append(
            f"{endpoint} {after['rate'] / before['rate']:.2f}x requests/s, "
            f"{before['cpu_ms'] / after['cpu_ms']:.2f}x less server CPU and "
            f"{before['pg_ms'] / max(after['pg_ms'], 1e-9):.2f}x less PostgreSQL CPU per request"
        )
    lines += ["", f"This tree against {commit}: " + "; ".join(summary_parts) + ".", ""]
    return "\n".join(lines)


def _timed(call: Callable[[], Any], runs: int) -> dict[str, float]:
    """Per call: wall p50/p99 in µs and mean CPU in µs (this thread), after 50 warm-up calls."""
    for _ in range(50):
        call()
    walls = []
    cpu_started = time.thread_time()
    for _ in range(runs):
        started = time.perf_counter()
        call()
        walls.append((time.perf_counter() - started) * 1e6)
    cpu = (time.thread_time() - cpu_started) * 1e6 / runs
    stats = summary(walls)
    return {"p50": stats["p50"], "p99": stats["p99"], "cpu": cpu}


def _row(name: str, before: dict[str, float], after: dict[str, float]) -> str:
    return (
        f"| {name} | {before['p50']:.0f} / {before['p99']:.0f} | {before['cpu']:.0f} "
        f"| {after['p50']:.0f} / {after['p99']:.0f} | {after['cpu']:.0f} | {before['p50'] / after['p50']:.1f}x |"
    )


def micro(token: str, user: Any, runs: int) -> str:
    """Authentication, rate limit and context history, before and after, in this process."""
    from unittest import mock

    from django.core.cache import cache
    from django.test.utils import override_settings

    from appauth.authentication import TokenAuthentication
    from backend import ratelimit
    from chat.models import Message
    from chat.services import context

    authenticator = TokenAuthentication()
    credentials = token.encode()
    with override_settings(AUTH_TOKEN_CACHE_SECONDS=0):
        auth_before = _timed(lambda: authenticator.authenticate_credentials(credentials), runs)
    with override_settings(AUTH_TOKEN_CACHE_SECONDS=30):
        auth_after = _timed(lambda: authenticator.authenticate_credentials(credentials), runs)

    def cache_api_steps(backend: Any, *args: Any, **kwargs: Any) -> tuple[bool, int, int]:
        return ratelimit._hit_cache(*args, **kwargs)

    def check() -> None:
        ratelimit.hit("bench", str(user.pk), "100000000/m")

    with mock.patch.object(ratelimit, "_hit_redis", side_effect=cache_api_steps):
        limit_before = _timed(check, runs)
    limit_after = _timed(check, runs)

    pair = _follow_up_chat(user, turns=100)
    assistant = Message.objects.get(pair=pair, role=Message.Role.ASSISTANT)
    with override_settings(CHAT_HISTORY_CACHE_SECONDS=0):
        context_before = _timed(lambda: context.history_turns(pair=pair), max(runs // 10, 50))
        build_before = _timed(lambda: context.context_build(assistant_message=assistant), max(runs // 10, 50))
    own_key = context._history_key(pair.chat_id, _edit_version(pair.chat_id), pair.parent_id)

    def extend() -> None:  # the follow-up's path: the previous turn's entry plus one turn
        cache.delete(own_key)
        context.history_turns(pair=pair)

    context.history_turns(pair=pair)  # stores the entries
    context_hit = _timed(lambda: context.history_turns(pair=pair), max(runs // 10, 50))
    context_extend = _timed(extend, max(runs // 10, 50))
    build_after = _timed(lambda: context.context_build(assistant_message=assistant), max(runs // 10, 50))
    return "\n".join(
        [
            "### Authentication, rate limit and context history, in process",
            "",
            f"{runs} calls each (context: {max(runs // 10, 50)}), after 50 warm-up calls, in one process against",
            "PostgreSQL and Redis on loopback. Wall p50 / p99 and mean CPU per call, in µs.",
            "",
            "| operation | before p50 / p99 | before CPU | after p50 / p99 | after CPU | p50 ratio |",
            "|---|---|---|---|---|---|",
            _row("token authentication: database lookup → cached (user, token)", auth_before, auth_after),
            _row("rate-limit check: 4 cache round trips → 1 Lua script", limit_before, limit_after),
            _row("history of a follow-up turn, 200 messages: ORM → cache hit", context_before, context_hit),
            _row("same, the follow-up's path: previous entry + 1 turn", context_before, context_extend),
            _row("whole context build of that turn (system, memory, history)", build_before, build_after),
            "",
        ]
    )


def _edit_version(chat_id: Any) -> int:
    from chat.models import Chat

    return int(Chat.objects.values_list("history_edit_version", flat=True).get(id=chat_id))


def _follow_up_chat(user: Any, turns: int) -> Any:
    """A chat of `turns` finished turns and one more turn whose answer is being generated."""
    from chat.models import Chat, Message, MessagePair

    chat = Chat.objects.create(user=user, title="Context bench")
    pairs, parent = [], None
    for depth in range(turns + 1):
        parent = MessagePair(chat=chat, parent=parent, depth=depth)
        pairs.append(parent)
    MessagePair.objects.bulk_create(pairs)
    Message.objects.bulk_create(
        message
        for pair in pairs
        for message in (
            Message(pair=pair, role="user", text=f"Question {pair.depth}: " + "some words " * 20),
            Message(
                pair=pair,
                role="assistant",
                status="streaming" if pair is pairs[-1] else "complete",
                text="" if pair is pairs[-1] else "An answer " * 60,
                model_alias="chat-default",
            ),
        )
    )
    Chat.objects.filter(id=chat.id).update(active_leaf=pairs[-1])
    return MessagePair.objects.select_related("chat").get(id=pairs[-1].id)
