"""Where a turn's added time to first token goes, step by step (one request at a time).

    python bench/chat.py steps [--runs 150] [--follow-up]

The product is served (one uvicorn worker) through `bench/steps_app.py`, which records the
wall-clock span of each admission step, SQL statement and Redis command in the server. Each
round sends the prompt to the emulator directly (the baseline) and then to the product, one
request at a time after 10 of warm-up; the table gives the median of each step's start, end and
duration, in ms after the request reached the ASGI application, over all requests and over the
slowest 5 % of them (by the product's time to first token), where a tail comes from.

With `--follow-up` each request is a follow-up in a conversation in progress: a chat of 200
messages that had one turn answered through the product before the run (its history cached);
the baseline then sends the same 200 messages to the emulator directly.

With `--first-token-ms N` the model takes N ms from opening its stream to its first token (the
emulator's `first_token_ms`; a deployed model takes hundreds), in both the baseline and the
product: the turn's write then ends before the first token comes, and what is left on the path
is the product's work before and around the model call. Without it the emulator answers at once,
so a write that ends after the model's first token delays the first delta.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import urllib.request
from typing import Any

from bench.common import (
    measuring_client,
    pauses_line,
    percentile,
    raw_converse_stream,
    raw_sse_post,
    uvicorn_server,
)

WARMUP = 10
STEPS = [
    "admission (database thread)",
    "the request body validated",
    "running answers and the token's guard",
    "budget limits",
    "message rate limit",
    "the turn statement",
    "context and tools",
    "the answer launched (event loop)",
    "the model call opened",
    "first delta appended",
    "first delta sent",
]


def _per_request(spans: list[list[Any]]) -> list[dict[str, tuple[float, float]]]:
    """The spans of each request, relative to its arrival; a repeated name gets `#2`, `#3`."""
    requests: list[dict[str, tuple[float, float]]] = []
    current: dict[str, tuple[float, float]] | None = None
    origin = 0.0
    for name, started, ended in spans:
        if name == "request":
            origin, current = started, {}
            requests.append(current)
            continue
        if current is None:
            continue
        key, repeat = name, 2
        while key in current:
            key, repeat = f"{name} #{repeat}", repeat + 1
        current[key] = ((started - origin) * 1000, (ended - origin) * 1000)
    return requests


def bench_steps(
    *,
    emulator_url: str,
    env: dict[str, str],
    token: str,
    model: str,
    runs: int,
    follow_chat_ids: list[str] | None = None,
    first_token_ms: int = 0,
) -> str:
    """`follow_chat_ids`: `runs + WARMUP` chats of 200 messages, for `--follow-up` (else new chats)."""
    import uvloop

    from bench.chat_latency import SEEDED_HISTORY

    prompt = "[[emu:tokens=3]] " + (f"[[emu:first_token_ms={first_token_ms}]] " if first_token_ms else "") + "hello"
    history = SEEDED_HISTORY if follow_chat_ids else None
    e_host, e_port = emulator_url.removeprefix("http://").split(":")
    with uvicorn_server(emulator_url, env, workers=1, port=19731, app="bench.steps_app:application") as (url, _):
        host, port = url.removeprefix("http://").split(":")

        def body(index: int) -> bytes:
            if follow_chat_ids is None:
                return json.dumps({"content": prompt}).encode()
            return json.dumps({"content": prompt, "chat_id": follow_chat_ids[index]}).encode()

        async def post(index: int) -> tuple[float, list[float], bool]:
            return await raw_sse_post(
                host, int(port), "/api/v1/chat/messages/", body(index), headers={"Authorization": f"Token {token}"}
            )

        async def run() -> list[tuple[float, float]]:
            if follow_chat_ids is not None:  # the turn before the timed one: a conversation in progress
                for index in range(len(follow_chat_ids)):
                    if not (await post(index))[2]:
                        raise RuntimeError("a warm-up turn failed")
            ttft = []
            with measuring_client() as timed_pauses:
                for index in range(runs + WARMUP):
                    direct = await raw_converse_stream(e_host, int(e_port), model, prompt, history=history)
                    await asyncio.sleep(0.05)
                    product = await post(index)
                    await asyncio.sleep(0.05)
                    if index >= WARMUP:
                        ttft.append(((product[1][0] - product[0]) * 1000, (direct[1][0] - direct[0]) * 1000))
            pauses.extend(timed_pauses)
            return ttft

        pauses: list[float] = []
        ttft = uvloop.run(run())
        request = urllib.request.Request(f"{url}/__bench_steps", method="POST")  # noqa: S310 - our own server
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            spans = json.loads(response.read())
    requests = _per_request(spans)[-runs:]  # the warm-up turns and requests left out
    slow_from = percentile([product for product, _ in ttft], 0.95)
    slowest = [spans_of for spans_of, (product, _) in zip(requests, ttft, strict=True) if product >= slow_from]
    names: list[str] = []
    for spans_of in requests:
        names += [name for name in spans_of if name not in names]

    def medians(group: list[dict[str, tuple[float, float]]], name: str) -> tuple[float, float, float] | None:
        values = [spans_of[name] for spans_of in group if name in spans_of]
        if len(values) < len(group) // 2:
            return None  # not on every request's path (a periodic flush, a maintenance query)
        return (
            statistics.median(value[0] for value in values),
            statistics.median(value[1] for value in values),
            statistics.median(value[1] - value[0] for value in values),
        )

    rows = []
    for name in names:
        every, tail = medians(requests, name), medians(slowest, name)
        if every is not None:
            rows.append((every[0], name, every, tail))
    product_ttft = statistics.median(product for product, _ in ttft)
    direct_ttft = statistics.median(direct for _, direct in ttft)
    added = sorted(product - direct for product, direct in ttft)
    what = "A follow-up's (200 messages before it, conversation in progress)" if follow_chat_ids else "A new chat's"
    model_pace = f", the model's first token {first_token_ms} ms after its stream opens" if first_token_ms else ""
    baseline = "the same conversation sent to the emulator directly" if follow_chat_ids else "the emulator directly"
    lines = [
        f"### {what} added time to first token, step by step ({runs} requests, one at a time{model_pace})",
        "",
        "One uvicorn worker; spans recorded in the server (`bench/steps_app.py`), medians, ms after the",
        f"request reached the ASGI application. TTFT: product {product_ttft:.2f} ms, {baseline}",
        f"{direct_ttft:.2f} ms, **added {statistics.median(added):.2f} ms** p50, {percentile(added, 0.99):.2f} ms",
        f"p99 (paired differences). The last columns: the same medians over the slowest 5 % ({len(slowest)}",
        "requests, by the product's TTFT). Indented rows are the SQL statements and Redis commands inside",
        "the step above them.",
        "",
        "| step | from | to | ms | slowest 5 %: from | to | ms |",
        "|---|---|---|---|---|---|---|",
    ]
    sent = next((start for start, name, _, _ in rows if name == "first delta sent"), float("inf"))
    for start, name, every, tail in sorted(rows, key=lambda row: row[0]):
        label = name if name in STEPS else f"&nbsp;&nbsp;{name}"
        if start > sent:  # the answer's finish, after the first token
            label = f"after the first token: {name}"
        slow = " | ".join(f"{value:.2f}" for value in tail) if tail is not None else "- | - | -"
        lines.append(f"| {label} | {every[0]:.2f} | {every[1]:.2f} | {every[2]:.2f} | {slow} |")
    lines += ["", pauses_line(pauses), ""]
    return "\n".join(lines)
