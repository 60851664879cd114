"""Chat admission latency and streaming load, each against a baseline measured in the same run.

    python bench/chat.py latency [--runs 300] [--workers 2]

- **Added time to first token**, sequential, all targets in random order each round, each request
  on a new connection: the emulator over a raw socket (the baseline), the emulator through
  aiobotocore (what the product uses inside), the product's new chat, the product's follow-up
  turn in a 200-message chat (a fresh chat each round, so every one is the same size) twice —
  with its history never read before (the first turn after the history cache expired) and with
  its previous turn answered through the product (a conversation in progress) — the floor
  server's new turn, unchecked and checking first (`bench/floor_app.py`), and the LiteLLM proxy
  on the same emulator (`bench/litellm_peer.py`). "Added" is the paired difference, round by
  round, against the baseline.
- **Concurrent streams**: 1,000 streams of 75 events at 80 ms, and 300 of 300 tokens at 20 ms,
  arrivals spread over one second; the same loads on the emulator directly as the baseline.
- **Server CPU per streamed token**: the server's processes, 100 streams of 300 tokens minus
  100 of 3; the baseline is aiobotocore consuming the same streams in this process with no
  server around it (the floor of a Python server on botocore).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import (
    cpu_account,
    machine_busy_seconds,
    measuring_client,
    pauses_line,
    raw_converse_stream,
    raw_sse_post,
    summary,
    tree_cpu_seconds,
)
from bench.litellm_peer import litellm_stream

MODEL = "us.anthropic.claude-sonnet-4-6"
TTFT_PROMPT = "[[emu:tokens=20]] time to first token"
FOLLOW_UP_PAIRS = 100  # 200 messages before the new turn
CPU_STREAMS, CPU_LONG_TOKENS, CPU_SHORT_TOKENS = 100, 300, 3
SEEDED_QUESTION, SEEDED_ANSWER = "Question {} about the tides", "An answer " * 30
# The seeded chats' turns as Converse messages: what a follow-up sends the model before its question.
SEEDED_HISTORY = [
    message
    for depth in range(FOLLOW_UP_PAIRS)
    for message in (
        {"role": "user", "content": [{"text": SEEDED_QUESTION.format(depth)}]},
        {"role": "assistant", "content": [{"text": SEEDED_ANSWER}]},
    )
]
LONG_BASELINE = "emulator, raw socket, the same 200 messages before the question"
FLOOR_LOAD = "floor, checking first (`bench/floor_app.py`)"
FLOOR_TARGET = "floor: bare ASGI app, the turn written durably in one statement, aiobotocore"
FLOOR_CHECKED_TARGET = "floor, checking first: token and running answers in one round trip, then the same"


def fmt(value: float) -> str:
    return f"{value:.2f}"


def seed_follow_up_chats(user: Any, count: int) -> list[str]:
    """`count` chats of FOLLOW_UP_PAIRS answered turns each, for `user`."""
    from django.db import connection

    from chat.models import Chat, Message, MessagePair

    chats = [Chat(user=user, title=f"Follow-up {i}") for i in range(count)]
    Chat.objects.bulk_create(chats, batch_size=1000)
    leaves = []
    for chat in chats:
        pairs, parent = [], None
        for depth in range(FOLLOW_UP_PAIRS):
            parent = MessagePair(chat=chat, parent=parent, depth=depth)
            pairs.append(parent)
        MessagePair.objects.bulk_create(pairs, batch_size=2000)
        Message.objects.bulk_create(
            [
                message
                for pair in pairs
                for message in (
                    Message(pair=pair, user=user, role="user", text=SEEDED_QUESTION.format(pair.depth)),
                    Message(
                        pair=pair,
                        user=user,
                        role="assistant",
                        status="complete",
                        text=SEEDED_ANSWER,
                        model_id=MODEL,
                    ),
                )
            ],
            batch_size=4000,
        )
        leaves.append(Chat(id=chat.id, active_leaf=pairs[-1]))
    Chat.objects.bulk_update(leaves, ["active_leaf"], batch_size=500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_chat, chat_messagepair, chat_message")
    return [str(chat.id) for chat in chats]


MEMORY_COUNT = 15
MEMORY_USER = f"a user with {MEMORY_COUNT} memories"
MEMORY_TARGET = f"product: new chat, {MEMORY_USER}"


def seed_memories(user: Any, count: int = MEMORY_COUNT) -> None:
    """`count` tagged memories for `user`, as memory extraction leaves them for an active user."""
    from chat.models import MemoryTag, UserMemory

    tags = [MemoryTag.objects.create(user=user, name=name) for name in ("work", "python", "travel")]
    for index in range(count):
        memory = UserMemory.objects.create(
            user=user, summary=f"Fact {index}: works with Python services and travels often", confidence=0.9
        )
        memory.tags.set(tags[: 1 + index % 3])


def _ttft(result: tuple[float, list[float], bool]) -> float | None:
    started, arrivals, ok = result
    return (arrivals[0] - started) * 1000 if ok and arrivals else None


async def bench_ttft(
    *,
    server_url: str,
    emulator_url: str,
    litellm_url: str | None,
    token: str,
    follow_chat_ids: list[str],
    runs: int,
    boto_client: Any,
    others: dict[str, str] | None = None,
    memory_token: str | None = None,
    first_token_ms: int = 0,
    floor_url: str | None = None,
) -> tuple[str, dict[str, dict[str, float]]]:
    """`others`: label → URL of other servers (another revision) whose turns are timed too: a new
    chat, a new chat of the user with memories (`memory_token`, see `seed_memories`), and a
    follow-up in a conversation in progress (`follow_chat_ids` holds `runs + 20` more chats per
    other server, after the `2 * (runs + 20)` of this one). `first_token_ms`: the model takes that
    long from opening its stream to its first token, for every target (the emulator's
    `first_token_ms`), as a deployed model does; 0, the emulator answers at once. `floor_url`: the
    floor server (`bench/floor_app.py`), whose new turns are timed too."""
    e_host, e_port = emulator_url.removeprefix("http://").split(":")
    prompt = TTFT_PROMPT if not first_token_ms else f"[[emu:first_token_ms={first_token_ms}]] {TTFT_PROMPT}"

    def product(
        body: bytes, url: str = server_url, as_token: str = token
    ) -> Awaitable[tuple[float, list[float], bool]]:
        p_host, p_port = url.removeprefix("http://").split(":")
        return raw_sse_post(
            p_host, int(p_port), "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {as_token}"}
        )

    new_body = ('{"content": "' + prompt + '"}').encode()
    # Half the seeded chats are read cold (their history never built: the first turn after the
    # history cache expired); the other half had one turn answered through the product before
    # the run, as a conversation in progress has (its history cached).
    per_target = runs + 20
    cold_ids, warm_ids = follow_chat_ids[:per_target], follow_chat_ids[per_target : 2 * per_target]
    chats, warm_chats = iter(cold_ids), iter(warm_ids)
    other_warm = {
        label: follow_chat_ids[(2 + index) * per_target : (3 + index) * per_target]
        for index, label in enumerate(others or {})
    }

    def follow_up(chat_id: str) -> bytes:
        return ('{"content": "' + prompt + '", "chat_id": "' + chat_id + '"}').encode()

    warm_ups = [(server_url, chat_id) for chat_id in warm_ids]
    warm_ups += [(url, chat_id) for label, url in (others or {}).items() for chat_id in other_warm[label]]
    for url, chat_id in warm_ups:  # the turn before the timed one, not timed
        if _ttft(await product(follow_up(chat_id), url)) is None:
            raise RuntimeError("a warm-up turn failed")

    async def boto() -> tuple[float, list[float], bool]:
        started = time.perf_counter()
        arrivals: list[float] = []
        response = await boto_client.converse_stream(
            modelId=MODEL,
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig={"maxTokens": 4096},
        )
        async for event in response["stream"]:
            if "contentBlockDelta" in event:
                arrivals.append(time.perf_counter())
        return started, arrivals, True

    targets: dict[str, Callable[[], Awaitable[tuple[float, list[float], bool]]]] = {
        "emulator, raw socket (baseline)": lambda: raw_converse_stream(e_host, int(e_port), MODEL, prompt),
        "emulator through aiobotocore": boto,
        LONG_BASELINE: lambda: raw_converse_stream(e_host, int(e_port), MODEL, prompt, history=SEEDED_HISTORY),
        "product: new chat": lambda: product(new_body),
        "product: follow-up in a 200-message chat, history cold": lambda: product(follow_up(next(chats))),
        "product: follow-up in a 200-message chat, conversation in progress": lambda: product(
            follow_up(next(warm_chats))
        ),
    }
    if memory_token:
        targets[MEMORY_TARGET] = lambda: product(new_body, as_token=memory_token)
    for label, url in (others or {}).items():
        targets[f"product at {label}: new chat"] = lambda url=url: product(new_body, url)  # type: ignore[misc]
        if memory_token:
            targets[f"product at {label}: new chat, {MEMORY_USER}"] = lambda url=url: product(  # type: ignore[misc]
                new_body, url, memory_token
            )
        warm = iter(other_warm[label])
        targets[f"product at {label}: follow-up in a 200-message chat, conversation in progress"] = (
            lambda url=url, warm=warm: product(follow_up(next(warm)), url)  # type: ignore[misc]
        )
    if floor_url:
        f_host, f_port = floor_url.removeprefix("http://").split(":")
        for label, path in ((FLOOR_TARGET, "/"), (FLOOR_CHECKED_TARGET, "/checked")):
            targets[label] = lambda path=path: raw_sse_post(  # type: ignore[misc]
                f_host, int(f_port), path, new_body, headers={"Authorization": f"Token {token}"}
            )
    if litellm_url:
        l_host, l_port = litellm_url.removeprefix("http://").split(":")
        targets["LiteLLM proxy (no database)"] = lambda: litellm_stream(l_host, int(l_port), prompt)
    baseline = next(iter(targets))
    times: dict[str, list[float]] = {name: [] for name in targets}
    added: dict[str, list[float]] = {name: [] for name in targets}
    # A follow-up sends the model 200 earlier messages, which the model side takes longer to read:
    # against the same conversation sent to the emulator directly, the follow-up's own cost shows.
    added_long: dict[str, list[float]] = {name: [] for name in targets if "follow-up" in name}
    failed = dict.fromkeys(targets, 0)
    warmup = 20
    with measuring_client() as pauses:
        for index in range(runs + warmup):
            order = list(targets)
            random.shuffle(order)
            round_times = {}
            for name in order:
                round_times[name] = _ttft(await targets[name]())
            if index < warmup:
                continue
            for name, value in round_times.items():
                if value is None:
                    failed[name] += 1
                    continue
                times[name].append(value)
                if round_times[baseline] is not None:
                    added[name].append(value - round_times[baseline])  # type: ignore[operator]
                if name in added_long and round_times[LONG_BASELINE] is not None:
                    added_long[name].append(value - round_times[LONG_BASELINE])  # type: ignore[operator]
    figures = {
        name: {**summary(times[name]), **{f"added_{k}": v for k, v in summary(added[name]).items()}} for name in targets
    }
    base = figures[baseline]
    pace = f"; the model's first token {first_token_ms} ms after its stream opens" if first_token_ms else ""
    lines = [
        f"### Added time to first token, one request at a time ({runs} interleaved rounds{pace})",
        "",
        "Each round sends one request to every target, in random order, each on a new TCP connection",
        "(20 warm-up rounds first). Product: authentication, rate limit, concurrency slot, the turn",
        "written durably (PostgreSQL), context assembly, generation start, first SSE `delta`.",
        '"Added" is the paired difference against the baseline in the same round.',
        "",
        "| target | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms | p50 ÷ baseline | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figure in figures.items():
        lines.append(
            f"| {name} | {fmt(figure['p50'])} | {fmt(figure['p99'])} | {fmt(figure['added_p50'])} "
            f"| {fmt(figure['added_p99'])} | {figure['p50'] / base['p50']:.2f} | {failed[name]} |"
        )
    lines += [
        "",
        "The follow-ups against the same 200-message conversation sent to the emulator directly",
        "(what the product adds, without the model side's longer read of the history):",
        "",
        "| target | added p50 ms | added p99 ms |",
        "|---|---|---|",
    ]
    for name, values in added_long.items():
        figure = summary(values)
        lines.append(f"| {name} | {fmt(figure['p50'])} | {fmt(figure['p99'])} |")
    lines += ["", pauses_line(pauses), ""]
    if floor_url:
        lines += [
            "The floor (`bench/floor_app.py`) authenticates the token and writes the turn in one durable",
            "statement on the event loop, opens the model's stream with aiobotocore meanwhile (before it",
            "knows the token is valid), and sends the first delta once the write returned: what a Python",
            "server on the same database and model client cannot go below. Checking first, it spends one",
            "round trip on the token and the user's running answers before it opens the model's stream",
            "(the product checks those, and its rate limit, before it spends on a model call).",
            "",
        ]
    lines += ["Target: the product's added TTFT p50 ≤ 3 ms and p99 ≤ 10 ms, below LiteLLM's.", ""]
    return "\n".join(lines), figures


async def _spread(count: int, make: Callable[[], Awaitable[tuple[float, list[float], bool]]]) -> list[Any]:
    """`count` streams whose starts are spread over one second (an open loop, as users arrive)."""

    async def delayed(offset: float) -> tuple[float, list[float], bool]:
        await asyncio.sleep(offset)
        return await make()

    return await asyncio.gather(*(delayed(index / count) for index in range(count)), return_exceptions=True)


def _stream_figures(results: list[Any], events: int) -> tuple[list[float], list[float], int]:
    ttft, itl, failures = [], [], 0
    for result in results:
        if isinstance(result, BaseException) or not result[2] or len(result[1]) != events:
            failures += 1
            continue
        started, arrivals, _ = result
        ttft.append((arrivals[0] - started) * 1000)
        itl.extend((b - a) * 1000 for a, b in itertools.pairwise(arrivals))
    return ttft, itl, failures


def _load_prompt(events: int, delay_ms: int) -> str:
    return f"[[emu:tokens={events}]] [[emu:delay_ms={delay_ms}]] load"


async def bench_streams(
    *, server_url: str, emulator_url: str, token: str, workers: int, server_pid: int | None = None
) -> str:
    """The stream loads, through the product and directly; with `server_pid`, also the cores each
    party used during each load (`cpu_account`)."""
    host, port = server_url.removeprefix("http://").split(":")
    e_host, e_port = emulator_url.removeprefix("http://").split(":")
    lines = [
        f"### Concurrent streams ({workers} uvicorn workers)",
        "",
        "Stream starts spread over one second; every stream persisted as in production. ITL = gap",
        "between consecutive deltas as the client sees them. Baseline: the same load on the emulator",
        "directly, with the same raw-socket client.",
        "",
        "| load | through | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    accounts: list[tuple[str, str, float, dict[str, float]]] = []

    async def busiest(peaks: dict[str, float]) -> None:
        """The most cores the server and the machine used over any half second (until cancelled)."""
        assert server_pid is not None
        last = (tree_cpu_seconds(server_pid), machine_busy_seconds(), time.perf_counter())
        while True:
            await asyncio.sleep(0.5)
            now = (tree_cpu_seconds(server_pid), machine_busy_seconds(), time.perf_counter())
            span = now[2] - last[2]
            peaks["server"] = max(peaks.get("server", 0.0), (now[0] - last[0]) / span)
            peaks["machine"] = max(peaks.get("machine", 0.0), (now[1] - last[1]) / span)
            last = now

    async def measured(what: str, name: str, load: Awaitable[list[Any]]) -> list[Any]:
        if server_pid is None:
            return await load
        peaks: dict[str, float] = {}
        before = cpu_account(server_pid=server_pid, emulator_url=emulator_url)
        sampler = asyncio.create_task(busiest(peaks))
        try:
            results = await load
        finally:
            sampler.cancel()
        after = cpu_account(server_pid=server_pid, emulator_url=emulator_url)
        wall = after["wall"] - before["wall"]
        used = {party: (after[party] - before[party]) / wall for party in after if party != "wall"}
        used["server, busiest half second"] = peaks.get("server", float("nan"))
        used["machine, busiest half second"] = peaks.get("machine", float("nan"))
        accounts.append((what, name, wall, used))
        return results

    for streams, events, delay in [(1000, 75, 80), (300, 300, 20)]:
        prompt = _load_prompt(events, delay)
        body = ('{"content": "' + prompt + '"}').encode()
        what = f"{streams} x {events} events @ {delay} ms"
        direct = await measured(
            what,
            "emulator directly",
            _spread(streams, lambda prompt=prompt: raw_converse_stream(e_host, int(e_port), MODEL, prompt)),
        )
        through = await measured(
            what,
            "product",
            _spread(
                streams,
                lambda body=body: raw_sse_post(
                    host, int(port), "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {token}"}
                ),
            ),
        )
        for name, results in (("emulator directly", direct), ("product", through)):
            ttft, itl, failures = _stream_figures(results, events)
            t, i = summary(ttft), summary(itl)
            lines.append(
                f"| {what} | {name} | {fmt(t['p50'])} | {fmt(t['p99'])} "
                f"| {fmt(i['p50'])} | {fmt(i['p99'])} | {failures} |"
            )
    lines += [
        "",
        "Targets: 1,000 streams at 80 ms per event with TTFT p99 ≤ 1.5 s and no failures; 300 streams at",
        "20 ms per token with TTFT p99 ≤ 1.5 s.",
        "",
    ]
    if accounts:
        parties = list(accounts[0][3])
        lines += [
            "Where the CPU went during each load: cores used on average from the first arrival to the last",
            "event, and over the busiest half second (/proc; the machine is every process on it, this",
            "benchmark's included).",
            "",
            f"| load | through | seconds | {' | '.join(parties)} |",
            "|---|---|---|" + "---|" * len(parties),
        ]
        for what, name, wall, used in accounts:
            cores = " | ".join(fmt(used[party]) for party in parties)
            lines.append(f"| {what} | {name} | {wall:.1f} | {cores} |")
        lines.append("")
    return "\n".join(lines)


async def cpu_per_token(*, server_url: str, server_pid: int, token: str, boto_client: Any) -> tuple[float, float]:
    """(the server's CPU µs per streamed token, aiobotocore's alone) — see the module docstring."""
    host, port = server_url.removeprefix("http://").split(":")
    streams, long_tokens, short_tokens = CPU_STREAMS, CPU_LONG_TOKENS, CPU_SHORT_TOKENS

    async def through(tokens: int) -> float:
        body = ('{"content": "' + _load_prompt(tokens, 20) + '"}').encode()
        before = tree_cpu_seconds(server_pid)
        results = await _spread(
            streams,
            lambda: raw_sse_post(
                host, int(port), "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {token}"}
            ),
        )
        if _stream_figures(results, tokens)[2]:
            raise RuntimeError("streams failed while measuring CPU per token")
        await asyncio.sleep(1.0)  # terminal writes and the last log flush
        return tree_cpu_seconds(server_pid) - before

    async def consume(tokens: int) -> float:
        prompt = _load_prompt(tokens, 20)

        async def one() -> None:
            response = await boto_client.converse_stream(
                modelId=MODEL,
                messages=[{"role": "user", "content": [{"text": prompt}]}],
                inferenceConfig={"maxTokens": 4096},
            )
            async for _ in response["stream"]:
                pass

        before = time.process_time()
        await asyncio.gather(*(one() for _ in range(streams)))
        return time.process_time() - before

    per_token = {}
    for name, run in (("product server", through), ("aiobotocore consumer alone", consume)):
        long_run, short_run = await run(long_tokens), await run(short_tokens)
        per_token[name] = (long_run - short_run) / (streams * (long_tokens - short_tokens)) * 1e6
    return per_token["product server"], per_token["aiobotocore consumer alone"]


async def bench_cpu_per_token(*, server_url: str, server_pid: int, token: str, boto_client: Any) -> str:
    streams, long_tokens, short_tokens = CPU_STREAMS, CPU_LONG_TOKENS, CPU_SHORT_TOKENS
    product, floor = await cpu_per_token(
        server_url=server_url, server_pid=server_pid, token=token, boto_client=boto_client
    )
    return "\n".join(
        [
            "### Server CPU per streamed token",
            "",
            f"{streams} streams of {long_tokens} tokens minus {streams} of {short_tokens} (20 ms per token),",
            "CPU of every server process from /proc. Baseline: aiobotocore consuming the same streams in the bench",
            "process with no server (what any Python server built on botocore spends at least).",
            "",
            "| | µs per token |",
            "|---|---|",
            f"| product (event log, Redis mirror, SSE) | {product:.0f} |",
            f"| aiobotocore consumer alone (baseline) | {floor:.0f} |",
            "",
            f"Ratio: {product / floor:.2f} times the baseline (target: at most 2).",
            "",
        ]
    )


LOADS = [(1000, 75, 80), (300, 300, 20)]


def compare_loads(
    *, emulator_url: str, env: dict[str, str], token: str, against: str, rounds: int, workers: int
) -> str:
    """`bench_streams`' loads through this tree and `against`, interleaved round by round (one at a time).

    The servers run for the whole section with the same workers; only one serves a load at a time,
    in alternating order, so the machine's drift falls on all alike. The floor server checking
    first (`bench/floor_app.py`) serves the same loads too: what a Python server on the same
    database and model client reaches on this machine.
    """
    from contextlib import ExitStack

    import uvloop

    from bench.chat_tokens import worktree
    from bench.common import uvicorn_server

    results: dict[tuple[int, str], list[tuple[float, float, int]]] = {}
    with ExitStack() as stack:
        old_tree, commit = stack.enter_context(worktree(against))
        servers = {
            commit: stack.enter_context(uvicorn_server(emulator_url, env, workers=workers, port=19711, tree=old_tree)),
            "this tree": stack.enter_context(uvicorn_server(emulator_url, env, workers=workers, port=19712)),
        }
        paths = dict.fromkeys(servers, "/api/v1/chat/messages/")
        from bench.chat import floor_server

        servers[FLOOR_LOAD] = stack.enter_context(floor_server(emulator_url, workers=workers, port=19713))
        paths[FLOOR_LOAD] = "/checked"
        for round_index in range(rounds):
            order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
            for streams, events, delay in LOADS:
                body = ('{"content": "' + _load_prompt(events, delay) + '"}').encode()
                for name in order:
                    host, port = servers[name][0].removeprefix("http://").split(":")
                    outcome = uvloop.run(
                        _spread(
                            streams,
                            lambda body=body, host=host, port=port, path=paths[name]: raw_sse_post(
                                host,
                                int(port),
                                path,
                                body,
                                headers={"Authorization": f"Token {token}"},
                            ),
                        )
                    )
                    ttft, _, failures = _stream_figures(outcome, events)
                    t = summary(ttft)
                    results.setdefault((streams, name), []).append((t["p50"], t["p99"], failures))
                    time.sleep(2.0)  # the last answers' terminal writes and log flushes
    lines = [
        f"### Concurrent streams, this tree against {commit} ({workers} uvicorn workers, {rounds} interleaved rounds)",
        "",
        "The loads of *Concurrent streams*, served by each tree in turn (alternating which goes first).",
        "",
        "| load | server | TTFT p50 ms per round | TTFT p99 ms per round | failed |",
        "|---|---|---|---|---|",
    ]
    for streams, events, delay in LOADS:
        for name in servers:
            rows = results[(streams, name)]
            p50s = ", ".join(f"{row[0]:.0f}" for row in rows)
            p99s = ", ".join(f"{row[1]:.0f}" for row in rows)
            lines.append(
                f"| {streams} x {events} @ {delay} ms | {name} | {p50s} | {p99s} | {sum(row[2] for row in rows)} |"
            )
    lines += ["", "Targets: TTFT p99 ≤ 1,500 ms for both loads, no failures.", ""]
    return "\n".join(lines)
