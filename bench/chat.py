"""Chat streaming and history benchmarks against the emulator, with PostgreSQL and Redis.

The product runs as it does in production: uvicorn (uvloop, httptools) serving the ASGI app in
its own process, PostgreSQL and Redis on loopback, full persistence (messages, usage ledger,
event log). The emulator runs in its own process. The baseline, measured in the same run, is
the emulator called directly (aiobotocore, same prompt).

    python bench/chat.py ttft [--runs 300]
    python bench/chat.py concurrency [--streams 100 500 1000] [--tokens 300]
    python bench/chat.py history [--messages 100000] [--clients 32] [--seconds 10]
    python bench/chat.py reads [--messages 100000] [--clients 32] [--seconds 10] [--runs 2000] [--against REV]
    python bench/chat.py latency [--runs 300] [--workers 2] [--against REV]   (see bench/chat_latency.py)
    python bench/chat.py tokens [--against HEAD~1] [--rounds 3]   (see bench/chat_tokens.py)
    python bench/chat.py loads [--against HEAD~1] [--rounds 3] [--workers 2]   (the stream loads, two trees)
    python bench/chat.py steps [--runs 150] [--follow-up]   (a turn's added TTFT step by step, see bench/chat_steps.py)
    python bench/chat.py collector [--against HEAD~1] [--rounds 3] [--streams 1000]   (see bench/chat_collector.py)
    python bench/chat.py all --write docs/benchmarks.md

`reads` compares the read paths before and after (see bench/chat_reads.py); `latency` measures
admission, streaming load and CPU per token, with LiteLLM side by side (and, with `--against`,
another revision's new-chat turn in the same rounds).

Needs PostgreSQL (database `aia_bench`, or BENCH_DATABASE, is created) and Redis (db 9, or
BENCH_REDIS_URL) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    REPO,
    emulator_process,
    free_port,
    machine_line,
    prepare_database,
    raw_converse_stream,
    raw_sse_post,
    summary,
    uvicorn_process,
    uvicorn_server,
    write_section,
)

MODEL = "us.anthropic.claude-sonnet-4-6"
DB_NAME = os.environ.get("BENCH_DATABASE", "aia_bench")
ENV = {
    "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdef",
    "EMAIL_URL": "smtp://127.0.0.1:25",  # production settings refuse the console backend; nothing is sent
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "DATABASE_POOL": os.environ.get("BENCH_DATABASE_POOL", "1"),
    "CONN_MAX_AGE": "60",
    "DATABASE_POOL_MIN": "8",
    "DATABASE_POOL_MAX": "40",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
    "LOG_LEVEL": "WARNING",
    "BEHIND_TLS_PROXY": "0",
    "CHAT_MAX_CONCURRENT_GENERATIONS": "100000",
    "CHAT_MESSAGE_RATE": "1000000/m",
    "LLM_MAX_POOL_CONNECTIONS": "2000",
}


def setup_django(emulator_url: str) -> None:
    os.environ.update(ENV)
    os.environ["BEDROCK_ENDPOINT_URL"] = emulator_url
    import django

    django.setup()


def make_token() -> tuple[Any, str]:
    from django.contrib.auth import get_user_model

    from appauth.services.audit import ClientInfo
    from appauth.services.tokens import token_create

    user = get_user_model().objects.create_user(f"bench-{time.time_ns()}@example.com", "bench-password-123456")
    _, token = token_create(user=user, client=ClientInfo(ip="127.0.0.1", user_agent="bench"))
    return user, token


def server_process(emulator_url: str, workers: int = 1) -> Any:
    return uvicorn_process(emulator_url, ENV, workers=workers)


# --- A minimal SSE client on raw asyncio streams (cheap enough for 1000 streams on one core) ----------


async def sse_post(host: str, port: int, path: str, token: str, body: bytes) -> tuple[float, list[float], bool]:
    """POST, then read the SSE answer. Returns (start, arrival times of deltas, ended cleanly)."""
    return await raw_sse_post(host, port, path, body, headers={"Authorization": f"Token {token}"})


async def direct_stream(client: Any, prompt: str) -> tuple[float, list[float], bool]:
    started = time.perf_counter()
    arrivals: list[float] = []
    response = await client.converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": prompt}]}], inferenceConfig={"maxTokens": 4096}
    )
    async for event in response["stream"]:
        if "contentBlockDelta" in event:
            arrivals.append(time.perf_counter())
    return started, arrivals, True


def emulator_client(emulator_url: str) -> Any:
    from aiobotocore.session import get_session
    from botocore.config import Config

    return get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator_url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            max_pool_connections=2000, read_timeout=120, retries={"mode": "standard", "total_max_attempts": 1}
        ),
    )


def fmt(value: float) -> str:
    return f"{value:.2f}"


# --- Benchmarks ----------------------------------------------------------------------------------------


async def bench_ttft(server_url: str, emulator_url: str, token: str, runs: int) -> str:
    host, port = server_url.removeprefix("http://").split(":")
    prompt = "[[emu:tokens=20]] time to first token"
    body = ('{"content": "' + prompt + '"}').encode()
    product, direct = [], []
    async with emulator_client(emulator_url) as client:
        for index in range(runs + 20):
            started, arrivals, ok = await sse_post(host, int(port), "/api/v1/chat/messages/", token, body)
            d_started, d_arrivals, _ = await direct_stream(client, prompt)
            if index >= 20 and ok and arrivals:
                product.append((arrivals[0] - started) * 1000)
                direct.append((d_arrivals[0] - d_started) * 1000)
    added = [p - d for p, d in zip(product, direct, strict=True)]
    p, d, a = summary(product), summary(direct), summary(added)
    return "\n".join(
        [
            "### Added time to first token, one stream at a time",
            "",
            f"{len(product)} sequential turns (after 20 warm-up turns), each a new chat: authentication, the",
            "chat, pair and both messages written in one transaction, context assembly, generation start,",
            "first SSE delta. Baseline: the emulator called directly with aiobotocore, interleaved.",
            "",
            "| | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|",
            f"| through the product | {fmt(p['p50'])} | {fmt(p['p95'])} | {fmt(p['p99'])} |",
            f"| emulator directly | {fmt(d['p50'])} | {fmt(d['p95'])} | {fmt(d['p99'])} |",
            f"| **added** (paired difference) | **{fmt(a['p50'])}** | {fmt(a['p95'])} | **{fmt(a['p99'])}** |",
            "",
            f"Target: added p50 ≤ 3 ms, p99 ≤ 10 ms. Ratio of medians: {p['p50'] / d['p50']:.2f}.",
            "",
        ]
    )


async def run_concurrent(
    server_url: str, token: str, streams: int, tokens: int
) -> tuple[list[float], list[float], int]:
    host, port = server_url.removeprefix("http://").split(":")
    body = ('{"content": "[[emu:tokens=' + str(tokens) + ']] [[emu:delay_ms=20]] load"}').encode()

    # Arrivals spread over one second (an open loop), as real users do not press send in the same microsecond.
    async def delayed(offset: float) -> tuple[float, list[float], bool]:
        await asyncio.sleep(offset)
        return await sse_post(host, int(port), "/api/v1/chat/messages/", token, body)

    results = await asyncio.gather(*(delayed(index / streams) for index in range(streams)), return_exceptions=True)
    ttft, itl, errors = [], [], 0
    for result in results:
        if isinstance(result, BaseException) or not result[2] or len(result[1]) != tokens:
            errors += 1
            continue
        started, arrivals, _ = result
        ttft.append((arrivals[0] - started) * 1000)
        itl.extend((b - a) * 1000 for a, b in itertools.pairwise(arrivals))
    return ttft, itl, errors


async def direct_raw(host: str, port: int, prompt: str) -> tuple[float, list[float], bool]:
    """ConverseStream on the emulator over a raw socket, counting delta frames (cheap for 1000 streams)."""
    return await raw_converse_stream(host, port, MODEL, prompt)


async def run_direct_concurrent(emulator_url: str, streams: int, tokens: int) -> tuple[list[float], list[float]]:
    prompt = f"[[emu:tokens={tokens}]] [[emu:delay_ms=20]] load"
    host, port = emulator_url.removeprefix("http://").split(":")

    async def delayed(offset: float) -> tuple[float, list[float], bool]:
        await asyncio.sleep(offset)
        return await direct_raw(host, int(port), prompt)

    results = await asyncio.gather(*(delayed(index / streams) for index in range(streams)))
    itl = [(b - a) * 1000 for _, arrivals, _ in results for a, b in itertools.pairwise(arrivals)]
    ttft = [(arrivals[0] - started) * 1000 for started, arrivals, _ in results]
    return ttft, itl


async def bench_concurrency(server_url: str, emulator_url: str, token: str, levels: list[int], tokens: int) -> str:
    lines = [
        f"### Concurrent streams, {tokens} tokens at 20 ms/token",
        "",
        "Streams start over one second. ITL = gap between consecutive deltas as the client sees them.",
        "Baseline: the same load on the emulator directly (same raw-socket client). One uvicorn worker.",
        "",
        "| streams | TTFT p50 / p99 ms | ITL p50 / p99 ms | direct ITL p50 / p99 ms | added ITL p99 ms | failed |",
        "|---|---|---|---|---|---|",
    ]
    for level in levels:
        _, d_itl = await run_direct_concurrent(emulator_url, level, tokens)
        ttft, itl, errors = await run_concurrent(server_url, token, level, tokens)
        t, i, di = summary(ttft), summary(itl), summary(d_itl)
        lines.append(
            f"| {level} | {fmt(t['p50'])} / {fmt(t['p99'])} | {fmt(i['p50'])} / {fmt(i['p99'])} "
            f"| {fmt(di['p50'])} / {fmt(di['p99'])} | {fmt(i['p99'] - di['p99'])} | {errors} |"
        )
    lines += ["", "Target: ≥ 1000 streams with added ITL p99 ≤ 20 ms and no failures.", ""]
    return "\n".join(lines)


def seed_history(user: Any, messages: int) -> tuple[str, int]:
    """`messages` messages for `user`: one long chat of 2,000 messages, the rest over 1,000 chats."""
    from chat.models import Chat, Message, MessagePair

    pairs_total = messages // 2
    long_pairs = min(1000, pairs_total)
    rest = pairs_total - long_pairs
    chats = [Chat(user=user, title=f"Chat {i}") for i in range(1001)]
    Chat.objects.bulk_create(chats, batch_size=1000)
    long_chat = chats[0]
    plan = [(long_chat, long_pairs)] + [(chat, rest // 1000) for chat in chats[1:]]
    for chat, count in plan:
        pairs, parent = [], None
        for depth in range(count):
            pair = MessagePair(chat=chat, parent=parent, depth=depth)
            pairs.append(pair)
            parent = pair
        MessagePair.objects.bulk_create(pairs, batch_size=2000)
        Message.objects.bulk_create(
            [
                message
                for pair in pairs
                for message in (
                    Message(pair=pair, user=user, role="user", text=f"Question {pair.depth} about something"),
                    Message(
                        pair=pair,
                        user=user,
                        role="assistant",
                        status="complete",
                        text="An answer " * 30,
                        model_id=MODEL,
                    ),
                )
            ],
            batch_size=4000,
        )
        if pairs:
            Chat.objects.filter(id=chat.id).update(active_leaf=pairs[-1])
    from django.db import connection

    with connection.cursor() as cursor:  # fresh planner statistics, as a live database has
        cursor.execute("ANALYZE chat_chat, chat_messagepair, chat_message")
    return str(long_chat.id), Message.objects.filter(pair__chat__user=user).count()


async def hammer(url: str, token: str, clients: int, seconds: float) -> tuple[float, list[float], int]:
    import aiohttp

    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url, headers={"Authorization": f"Token {token}"}) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


async def bench_history(server_url: str, token: str, chat_id: str, total: int, clients: int, seconds: float) -> str:
    lines = [
        f"### Chat list and history with {total:,} messages in the database",
        "",
        f"{clients} concurrent clients for {seconds:.0f} s each, keep-alive connections, one uvicorn worker.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | failed |",
        "|---|---|---|---|---|",
    ]
    for name, path in [
        ("chat list (20 per page)", "/api/v1/chat/chats/"),
        ("history of a 2,000-message chat (last page)", f"/api/v1/chat/chats/{chat_id}/messages/"),
    ]:
        await hammer(server_url + path, token, clients, 1.0)  # warm-up
        rate, latencies, failures = await hammer(server_url + path, token, clients, seconds)
        s = summary(latencies)
        lines.append(f"| {name} | {rate:.0f} | {fmt(s['p50'])} | {fmt(s['p99'])} | {failures} |")
    lines += ["", "Target: ≥ 1000 requests/s and p99 ≤ 20 ms.", ""]
    return "\n".join(lines)


@contextmanager
def floor_server(emulator_url: str, *, workers: int, port: int) -> Iterator[tuple[str, int]]:
    """The floor server (`bench/floor_app.py`) on `workers` uvicorn workers: its URL and process id."""
    from bench.floor_app import create_table

    create_table(ENV["DATABASE_URL"].replace("postgres://", "postgresql://", 1))
    with uvicorn_server(emulator_url, ENV, workers=workers, port=port, app="bench.floor_app:application") as server:
        yield server


def latency_sections(
    emulator_url: str, runs: int, workers: int, against: str | None = None, first_token_ms: int = 0
) -> str:
    """`bench/chat_latency.py`: TTFT against the emulator and LiteLLM, streaming load, CPU per token.

    With `against` (a git revision), that tree is served too (same workers) and its new-chat
    turn is timed in the same rounds: the before/after of a change in one run.
    """
    import uvloop

    from bench import chat_latency
    from bench.chat_tokens import worktree
    from bench.litellm_peer import litellm_process

    user, token = make_token()
    follow_chat_ids = chat_latency.seed_follow_up_chats(user, (3 if against else 2) * (runs + 20))
    memory_user, memory_token = make_token()
    chat_latency.seed_memories(memory_user)
    parts = [f"{workers} uvicorn workers serve the product in this section.\n"]
    others: dict[str, str] = {}

    async def measure(server_url: str, server_pid: int, litellm_url: str | None, floor_url: str) -> None:
        async with emulator_client(emulator_url) as boto_client:
            text, _ = await chat_latency.bench_ttft(
                server_url=server_url,
                emulator_url=emulator_url,
                litellm_url=litellm_url,
                token=token,
                follow_chat_ids=follow_chat_ids,
                runs=runs,
                boto_client=boto_client,
                others=others,
                memory_token=memory_token,
                first_token_ms=first_token_ms,
                floor_url=floor_url,
            )
            parts.append(text)

    async def load(server_url: str, server_pid: int) -> None:
        async with emulator_client(emulator_url) as boto_client:
            parts.append(
                await chat_latency.bench_streams(
                    server_url=server_url,
                    emulator_url=emulator_url,
                    token=token,
                    workers=workers,
                    server_pid=server_pid,
                )
            )
            parts.append(
                await chat_latency.bench_cpu_per_token(
                    server_url=server_url, server_pid=server_pid, token=token, boto_client=boto_client
                )
            )

    with uvicorn_server(emulator_url, ENV, workers=workers, port=free_port()) as (url, pid):
        with ExitStack() as peers:  # stopped before the load: only the product serves it
            if against:
                tree, commit = peers.enter_context(worktree(against))
                other = uvicorn_server(emulator_url, ENV, workers=workers, port=free_port(), tree=tree)
                others[commit] = peers.enter_context(other)[0]
            litellm_url, skipped = peers.enter_context(litellm_process(emulator_url, MODEL))
            if litellm_url is None:
                parts.append(f"LiteLLM column skipped: {skipped}.\n")
                print(f"LiteLLM skipped: {skipped}", file=sys.stderr)
            floor = floor_server(emulator_url, workers=workers, port=free_port())
            floor_url, _ = peers.enter_context(floor)
            uvloop.run(measure(url, pid, litellm_url, floor_url))
        uvloop.run(load(url, pid))
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "what",
        choices=["ttft", "concurrency", "history", "reads", "latency", "tokens", "loads", "steps", "collector", "all"],
    )
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--streams", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn workers of the latency benchmark and of the reads' extra rows"
    )
    parser.add_argument(
        "--against",
        help="`tokens`, `loads` (default HEAD~1), `latency`, `reads` (optional): the revision to compare with",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="`tokens`, `loads`, `reads --against`: interleaved rounds"
    )
    parser.add_argument(
        "--follow-up", action="store_true", help="`steps`: follow-ups in 200-message chats instead of new chats"
    )
    parser.add_argument(
        "--first-token-ms",
        type=int,
        default=0,
        help="`steps`, `latency` (one request at a time): the model's time from opening its stream to its first"
        " token (default: at once)",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    prepare_database(DB_NAME, ENV)
    title = {
        "ttft": "time to first token",
        "concurrency": "concurrent streams",
        "history": "history and list",
        "reads": "read paths before and after",
        "latency": "admission latency and streaming load",
        "tokens": "server CPU per streamed token against another revision",
        "loads": "stream loads against another revision",
        "steps": "where a turn's added time to first token goes",
        "collector": "the garbage collector's work per answer against another revision",
    }
    heading = "all benchmarks" if args.what == "all" else title[args.what]
    sections = [
        f"## Chat: {heading} (`bench/chat.py {args.what}`)\n\n"
        f"{machine_line()}; PostgreSQL and Redis on loopback; uvicorn + uvloop, "
        "one worker unless a section says otherwise.\n"
    ]
    with emulator_process() as emulator_url:
        setup_django(emulator_url)
        if args.what in ("ttft", "concurrency", "history", "all"):
            _, token = make_token()
            with server_process(emulator_url) as server_url:
                import uvloop

                if args.what in ("ttft", "all"):
                    sections.append(uvloop.run(bench_ttft(server_url, emulator_url, token, args.runs)))
                if args.what in ("concurrency", "all"):
                    sections.append(
                        uvloop.run(bench_concurrency(server_url, emulator_url, token, args.streams, args.tokens))
                    )
                if args.what in ("history", "all"):
                    history_user, history_token = make_token()
                    chat_id, total = seed_history(history_user, args.messages)
                    sections.append(
                        uvloop.run(bench_history(server_url, history_token, chat_id, total, args.clients, args.seconds))
                    )
        # These start their own servers, one configuration at a time.
        if args.what in ("reads", "all"):
            sections.append(bench_reads(emulator_url, args))
        if args.what in ("latency", "all"):
            sections.append(latency_sections(emulator_url, args.runs, args.workers, args.against, args.first_token_ms))
        if args.what == "steps":
            from bench.chat_latency import seed_follow_up_chats
            from bench.chat_steps import WARMUP, bench_steps

            user, token = make_token()
            chats = seed_follow_up_chats(user, args.runs + WARMUP) if args.follow_up else None
            sections.append(
                bench_steps(
                    emulator_url=emulator_url,
                    env=ENV,
                    token=token,
                    model=MODEL,
                    runs=args.runs,
                    follow_chat_ids=chats,
                    first_token_ms=args.first_token_ms,
                )
            )
        if args.what in ("tokens", "loads", "collector"):  # not part of `all`: they compare with another revision
            from bench import chat_collector, chat_latency, chat_tokens

            _, token = make_token()
            compare: dict[str, Any] = {
                "emulator_url": emulator_url,
                "env": ENV,
                "token": token,
                "against": args.against or "HEAD~1",
            }
            if args.what == "tokens":
                sections.append(chat_tokens.compare(**compare, rounds=args.rounds))
            elif args.what == "collector":
                sections.append(chat_collector.compare(**compare, rounds=args.rounds, streams=args.streams[-1]))
            else:
                sections.append(chat_latency.compare_loads(**compare, rounds=args.rounds, workers=args.workers))
    emit(sections, args)


def emit(sections: list[str], args: argparse.Namespace) -> None:
    report = "\n".join(sections)
    print(report)
    if args.write:
        name = f"chat_{args.what}" + ("_against" if args.what == "reads" and args.against else "")
        write_section(args.write if args.write.is_absolute() else REPO / args.write, name, report)


def bench_reads(emulator_url: str, args: argparse.Namespace) -> str:
    from bench import chat_reads

    user, token = make_token()
    chat_id, total = seed_history(user, args.messages)
    if args.against:  # only the side-by-side comparison with that revision
        return chat_reads.http_reads_against(
            emulator_url, ENV, token, chat_id, args.clients, args.seconds, args.workers, args.against, args.rounds
        )
    http = chat_reads.http_reads(
        emulator_url, ENV, token, chat_id, total, args.clients, args.seconds, workers=args.workers
    )
    return http + "\n" + chat_reads.micro(token, user, args.runs)


if __name__ == "__main__":
    main()
