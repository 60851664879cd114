"""Shared helpers for benchmarks: an emulator in its own process, percentiles, the results file."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# The process id of each running emulator, by the URL `emulator_process` yielded (CPU accounting).
EMULATOR_PIDS: dict[str, int] = {}


@contextmanager
def emulator_process() -> Iterator[str]:
    """Start `python -m backend.llm.emulator` on a free port in its own process; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.llm.emulator", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                EMULATOR_PIDS[match.group(1)] = process.pid
                try:
                    yield match.group(1)
                finally:
                    EMULATOR_PIDS.pop(match.group(1), None)
                break
        else:
            raise RuntimeError("the emulator did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)


def prepare_database(name: str, env: dict[str, str]) -> None:
    """Drop and create the benchmark's own PostgreSQL database, then migrate it."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=REPO, env={**os.environ, **env}, check=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def measuring_client() -> Iterator[list[float]]:
    """This process as a measuring instrument for the block: its heap frozen, its collections timed.

    A garbage collection of the bench's own process while a request is in flight is in that
    request's time. Seeding the data and importing Django, botocore and aiohttp leave this
    process with 100,000+ objects, whose full collections took 14 to 100 ms during seeding on
    the development machine. The heap is collected and frozen first (`gc.freeze`), so that
    later collections scan only what the block allocates, and each collection's pause (ms) is
    yielded, to be reported with the figures: a tail then says whether the client made it.
    """
    gc.collect()
    gc.freeze()
    pauses: list[float] = []
    started = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(timed)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(timed)
        gc.unfreeze()


def pauses_line(pauses: list[float]) -> str:
    """A sentence on the bench process's own collections during a timed block (`measuring_client`)."""
    if not pauses:
        return "The bench process made no garbage collection during the timed rounds (its heap frozen before them)."
    return (
        f"The bench process's own garbage collections during the timed rounds (its heap frozen before them): "
        f"{len(pauses)}, the longest {max(pauses):.2f} ms, {sum(pauses):.0f} ms in all."
    )


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values) if values else float("nan"),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
    }


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- bench:NAME -->` markers in `path`."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures written by `make bench`.\n\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after.lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)


def machine_line() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


@contextmanager
def uvicorn_process(emulator_url: str, env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """The product as in production (uvicorn, uvloop, httptools) in its own process; yields its URL."""
    with uvicorn_server(emulator_url, env, workers=workers) as (url, _):
        yield url


def free_port() -> int:
    """A loopback port no socket listens on now, chosen by the kernel.

    The servers bind with `SO_REUSEPORT` (`backend.serve`), so two of them given the same port
    would both start and share its connections without an error: ports are never derived from
    the process id, where two servers of one run could meet.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def uvicorn_server(
    emulator_url: str,
    env: dict[str, str],
    *,
    workers: int = 1,
    port: int | None = None,
    tree: Path = REPO,
    app: str = "aiassistant.asgi:application",
) -> Iterator[tuple[str, int]]:
    """`uvicorn_process`, yielding its URL and the server's process id (its workers are children).

    `tree` is the checkout whose code is served (another revision, to compare two in one run).
    """
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            # as the tree is deployed: `backend.serve` (a socket per worker) where it has one
            "backend.serve" if (tree / "backend" / "serve.py").exists() else "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=tree,
        env={**os.environ, **env, "BEDROCK_ENDPOINT_URL": emulator_url},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)  # noqa: S310 - our own loopback server
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), children it waited for included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def raw_get_load(
    host: str, port: int, path: str, *, headers: dict[str, str], clients: int, seconds: float
) -> tuple[int, float, list[float], int]:
    """`clients` keep-alive connections sending GET `path` back to back for `seconds`.

    A minimal HTTP/1.1 client on asyncio streams (responses must carry Content-Length), cheap
    enough that the server, not the client, is what is measured. Returns (requests, elapsed
    seconds, latencies in ms, non-200 answers).
    """
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if match is None:
                    raise RuntimeError(f"no Content-Length in {head[:200]!r}")
                await reader.readexactly(int(match.group(1)))
                latencies.append((time.perf_counter() - started) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    failures += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies), time.perf_counter() - started, latencies, failures


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and every living descendant (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(used.get(member, 0.0) for member in tree)


def postgres_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by every living PostgreSQL process on this machine.

    The difference over a measurement is PostgreSQL's share of it, when nothing else uses the
    database meanwhile (a backend that exits during it takes its CPU time along).
    """
    return command_cpu_seconds("postgres")


def command_cpu_seconds(name: str) -> float:
    """CPU seconds (user + system) used so far by every living process whose command is `name`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far, all cores (Linux /proc/stat; idle and iowait excluded)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_account(*, server_pid: int, emulator_url: str) -> dict[str, float]:
    """CPU seconds used so far by each party of a load: the server's processes, the emulator, this
    process (the load client), PostgreSQL, Redis and the whole machine; plus the wall clock.
    The difference of two accounts over a load, divided by its wall time, is the cores each used."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    emulator = EMULATOR_PIDS.get(emulator_url)
    return {
        "server": tree_cpu_seconds(server_pid),
        "emulator": process_cpu_seconds(emulator) if emulator else float("nan"),
        "load client": own.ru_utime + own.ru_stime,
        "PostgreSQL": command_cpu_seconds("postgres"),
        "Redis": command_cpu_seconds("redis-server"),
        "machine": machine_busy_seconds(),
        "wall": time.perf_counter(),
    }


# --- Minimal clients on raw asyncio streams (cheap enough for 1000 streams on one core) ------------------

DELTA = b"event: delta"
TERMINAL_MARK = b"event: message_stop"  # the longest marker looked for; shorter ones fit in its tail


async def raw_sse_post(
    host: str, port: int, path: str, body: bytes, *, headers: dict[str, str]
) -> tuple[float, list[float], bool]:
    """POST, then read the SSE answer. Returns (start, arrival times of deltas, ended with message_stop)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    writer.write(request)
    arrivals: list[float] = []
    ended = False
    head = await reader.readuntil(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 200")
    tail = b""  # the end of the previous read: an event name may be split between two reads
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        now = time.perf_counter()
        # Counted in the new bytes plus too short a tail to hold a whole name (none is counted twice).
        arrivals.extend([now] * (tail[-(len(DELTA) - 1) :] + chunk).count(DELTA))
        data = tail + chunk
        if TERMINAL_MARK in data or b"event: error" in data:
            ended = TERMINAL_MARK in data
            break
        tail = data[-(len(TERMINAL_MARK) - 1) :]
    writer.close()
    return started, arrivals, ok and ended


async def raw_converse_stream(
    host: str, port: int, model: str, prompt: str, *, history: list[dict[str, Any]] | None = None
) -> tuple[float, list[float], bool]:
    """ConverseStream on the emulator over a raw socket, counting delta frames: the baseline.

    `history`: Converse messages sent before the prompt (a conversation's earlier turns).
    """
    messages = [*(history or []), {"role": "user", "content": [{"text": prompt}]}]
    body = json.dumps({"messages": messages, "inferenceConfig": {"maxTokens": 4096}}).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST /model/{model}/converse-stream HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )
    arrivals: list[float] = []
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        arrivals.extend([time.perf_counter()] * chunk.count(b"contentBlockDelta"))
    writer.close()
    return started, arrivals, True
