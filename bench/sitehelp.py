"""The help widget under the seed's load: 50 anonymous visitors at once, three messages each.

A first pass sends 20 messages from one visitor (the time the product adds to an answer's start);
then the load. The product runs as in production (uvicorn + uvloop, PostgreSQL, Redis, the emulator in its own
process). Each visitor starts a session, then sends three messages one after another, each
answer streamed to its end; visitors start spread over one second. Measured per message: the
time to the first token (POST to first SSE delta) and errors. Baseline, in the same run: the
same load against the emulator called directly (raw ConverseStream, no product).

    python bench/sitehelp.py [--visitors 50] [--messages 3] [--tokens 100] --write docs/benchmarks.md

Needs PostgreSQL (database `aia_bench_sitehelp` is created) and Redis (db 5) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    REPO,
    emulator_process,
    machine_line,
    prepare_database,
    raw_converse_stream,
    raw_sse_post,
    summary,
    uvicorn_process,
    write_section,
)

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # the first model of the `help` alias
DB_NAME = "aia_bench_sitehelp"
ENV = {
    "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdef",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "DATABASE_POOL": "1",
    "DATABASE_POOL_MIN": "4",
    "DATABASE_POOL_MAX": "20",
    "REDIS_URL": "redis://127.0.0.1:6379/5",
    "LOG_LEVEL": "WARNING",
    "BEHIND_TLS_PROXY": "0",
    # Every visitor comes from 127.0.0.1 here: the per-IP limits would measure themselves.
    "HELP_RATE_SESSION_IP": "100000/m",
    "HELP_RATE_MESSAGE_IP": "100000/m",
    # So that --messages can exceed a real visitor's (10 per minute, 20,000 tokens).
    "HELP_RATE_MESSAGE_SESSION": "100000/m",
    "HELP_SESSION_TOKEN_BUDGET": "100000000",
    "HELP_DAILY_COST_CAP_USD": "1000000",
}


def start_session(url: str) -> dict[str, str]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        f"{url}/api/v1/help/sessions/", data=b'{"language": "en"}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


async def visitor(url: str, offset: float, messages: int, tokens: int) -> list[tuple[float | None, bool]]:
    """One visitor: a session, then `messages` questions in turn. Returns (ttft ms or None, ok) per message."""
    await asyncio.sleep(offset)
    host, port = url.removeprefix("http://").split(":")
    session = await asyncio.to_thread(start_session, url)
    results: list[tuple[float | None, bool]] = []
    for index in range(messages):
        body = json.dumps({"content": f"Question {index} [[emu:tokens={tokens}]] [[emu:delay_ms=20]]"}).encode()
        try:
            started, arrivals, ok = await raw_sse_post(
                host,
                int(port),
                f"/api/v1/help/sessions/{session['session_id']}/messages/",
                body,
                headers={"X-Help-Session": session["token"]},
            )
        except OSError:
            results.append((None, False))
            continue
        results.append(((arrivals[0] - started) * 1000 if arrivals else None, ok and len(arrivals) == tokens))
    return results


async def direct_visitor(emulator_url: str, offset: float, messages: int, tokens: int) -> list[float]:
    await asyncio.sleep(offset)
    host, port = emulator_url.removeprefix("http://").split(":")
    ttft = []
    for index in range(messages):
        started, arrivals, _ = await raw_converse_stream(
            host, int(port), MODEL, f"Question {index} [[emu:tokens={tokens}]] [[emu:delay_ms=20]]"
        )
        ttft.append((arrivals[0] - started) * 1000)
    return ttft


async def run(url: str, emulator_url: str, visitors: int, messages: int, tokens: int) -> str:
    began = time.perf_counter()
    product = await asyncio.gather(*(visitor(url, i / visitors, messages, tokens) for i in range(visitors)))
    product_seconds = time.perf_counter() - began
    direct = await asyncio.gather(
        *(direct_visitor(emulator_url, i / visitors, messages, tokens) for i in range(visitors))
    )
    flat = [result for visits in product for result in visits]
    ttft = [value for value, ok in flat if ok and value is not None]
    errors = sum(1 for _, ok in flat if not ok)
    baseline = [value for visits in direct for value in visits]
    p, d = summary(ttft), summary(baseline)
    return "\n".join(
        [
            f"Visitors: {visitors}, starting over one second; each starts a session and sends {messages} messages",
            f"in turn (answers of {tokens} tokens at 20 ms/token, read to their end): {len(flat)} answers in "
            f"{product_seconds:.1f} s.",
            "Baseline: the same load on the emulator directly (raw ConverseStream), in the same run.",
            "",
            "| time to first token | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---|---|---|---|",
            f"| through the widget API | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {errors} / {len(flat)} |",
            f"| emulator directly | {d['p50']:.1f} | {d['p95']:.1f} | {d['p99']:.1f} | 0 / {len(baseline)} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    prepare_database(DB_NAME, ENV)
    with emulator_process() as emulator_url, uvicorn_process(emulator_url, ENV) as url:
        import uvloop

        body = "### One visitor at a time\n\n" + uvloop.run(run(url, emulator_url, 1, 20, args.tokens))
        body += f"\n### {args.visitors} visitors at once\n\n"
        body += uvloop.run(run(url, emulator_url, args.visitors, args.messages, args.tokens))
    report = (
        "## Site help: 50 anonymous visitors (`bench/sitehelp.py`)\n\n"
        f"{machine_line()}; PostgreSQL and Redis on loopback; uvicorn + uvloop, one worker.\n\n{body}"
    )
    print(report)
    if args.write:
        write_section(args.write if args.write.is_absolute() else REPO / args.write, "sitehelp", report)


if __name__ == "__main__":
    main()
