"""Where a new chat's added time to first token goes, step by step (one request at a time).

    python bench/chat.py steps [--runs 150]

The product is served (one uvicorn worker) through `bench/steps_app.py`, which records the
wall-clock span of each admission step, SQL statement and Redis command in the server. Each
round sends the prompt to the emulator directly (the baseline) and then to the product, one
request at a time after 10 of warm-up; the table gives the median of each step's start, end and
duration, in ms after the request reached the ASGI application.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import urllib.request
from typing import Any

from bench.common import raw_converse_stream, raw_sse_post, uvicorn_server

WARMUP = 10
STEPS = [
    "admission (database thread)",
    "running answers and the token's guard",
    "budget limits",
    "message rate limit",
    "the turn statement",
    "context and tools",
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


def bench_steps(*, emulator_url: str, env: dict[str, str], token: str, model: str, runs: int) -> str:
    import uvloop

    prompt = "[[emu:tokens=3]] hello"
    body = json.dumps({"content": prompt}).encode()
    e_host, e_port = emulator_url.removeprefix("http://").split(":")
    with uvicorn_server(emulator_url, env, workers=1, port=19731, app="bench.steps_app:application") as (url, _):
        host, port = url.removeprefix("http://").split(":")

        async def run() -> list[tuple[float, float]]:
            ttft = []
            for index in range(runs + WARMUP):
                direct = await raw_converse_stream(e_host, int(e_port), model, prompt)
                await asyncio.sleep(0.05)
                product = await raw_sse_post(
                    host, int(port), "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {token}"}
                )
                await asyncio.sleep(0.05)
                if index >= WARMUP:
                    ttft.append(((product[1][0] - product[0]) * 1000, (direct[1][0] - direct[0]) * 1000))
            return ttft

        ttft = uvloop.run(run())
        request = urllib.request.Request(f"{url}/__bench_steps", method="POST")  # noqa: S310 - our own server
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            spans = json.loads(response.read())
    requests = _per_request(spans)[WARMUP:]
    names: list[str] = []
    for spans_of in requests:
        names += [name for name in spans_of if name not in names]
    rows = []
    for name in names:
        values = [spans_of[name] for spans_of in requests if name in spans_of]
        if len(values) < len(requests) // 2:
            continue  # not on every request's path (a periodic flush, a maintenance query)
        start = statistics.median(value[0] for value in values)
        end = statistics.median(value[1] for value in values)
        duration = statistics.median(value[1] - value[0] for value in values)
        rows.append((start, name, end, duration))
    product_ttft = statistics.median(product for product, _ in ttft)
    direct_ttft = statistics.median(direct for _, direct in ttft)
    added = statistics.median(product - direct for product, direct in ttft)
    lines = [
        f"### A new chat's added time to first token, step by step ({runs} requests, one at a time)",
        "",
        "One uvicorn worker; spans recorded in the server (`bench/steps_app.py`), medians, ms after the",
        f"request reached the ASGI application. TTFT: product {product_ttft:.2f} ms, the emulator directly",
        f"{direct_ttft:.2f} ms, **added {added:.2f} ms** (median of the paired differences). Indented rows",
        "are the SQL statements and Redis commands inside the step above them.",
        "",
        "| step | from | to | ms |",
        "|---|---|---|---|",
    ]
    sent = next((start for start, name, _, _ in rows if name == "first delta sent"), float("inf"))
    for start, name, end, duration in sorted(rows):
        label = name if name in STEPS else f"&nbsp;&nbsp;{name}"
        if start > sent:  # the answer's finish, after the first token
            label = f"after the first token: {name}"
        lines.append(f"| {label} | {start:.2f} | {end:.2f} | {duration:.2f} |")
    lines.append("")
    return "\n".join(lines)
