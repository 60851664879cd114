"""The garbage collector's work per streamed answer: this tree against another revision, in one run.

    python bench/chat.py collector [--against REF] [--rounds 3] [--streams 1000]

Each tree is served by one uvicorn worker in turn (alternating which goes first), with
`bench/gcprobe` on its `PYTHONPATH`: a `gc.callbacks` hook that counts the collections of each
generation, their CPU time, the objects they freed and the longest one. A round sends
`--streams` answers of 50 tokens at 20 ms, 500 at a time, and reads the counters before
and after. What only the collector frees (objects in reference cycles) is allocated without
being freed, which is what triggers collections; what a full collection frees waited for it,
and a full collection stops the worker's event loop for as long as it scans.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import REPO, raw_sse_post, uvicorn_server

PROBE = REPO / "bench" / "gcprobe"
TOKENS = 50
CLIENTS = 500


def _counters(worker: int, prefix: str) -> dict[str, Any]:
    path = Path(f"{prefix}.{worker}")
    path.unlink(missing_ok=True)
    os.kill(worker, signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not path.exists():  # the probe writes it whole (a rename)
        if time.monotonic() > deadline:
            raise RuntimeError(f"process {worker} wrote no counters: is bench/gcprobe on its PYTHONPATH?")
        time.sleep(0.05)
    counters = dict(json.loads(path.read_text()))
    path.unlink()
    return counters


async def _load(port: int, token: str, streams: int, clients: int) -> int:
    body = ('{"content": "[[emu:tokens=' + str(TOKENS) + ']] [[emu:delay_ms=20]] collector"}').encode()
    slots = asyncio.Semaphore(clients)

    async def one() -> bool:
        async with slots:
            _, _, ok = await raw_sse_post(
                "127.0.0.1", port, "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {token}"}
            )
            return ok

    return sum(await asyncio.gather(*(one() for _ in range(streams))))


def _round(url: str, pid: int, token: str, prefix: str, streams: int, clients: int) -> dict[str, float]:
    import uvloop

    port = int(url.rsplit(":", 1)[1])
    workers = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    worker = int(workers[0]) if workers else pid
    before = _counters(worker, prefix)
    ok = uvloop.run(_load(port, token, streams, clients))
    time.sleep(1.0)  # the last answers' terminal writes
    after = _counters(worker, prefix)
    figures: dict[str, float] = {"failed": streams - ok}
    figures["worker_ms"] = (after["cpu"] - before["cpu"]) * 1000 / streams
    collector = 0.0
    for generation in "012":
        old, new = before["generations"][generation], after["generations"][generation]
        collector += new[2] - old[2]
        figures[f"collections{generation}"] = new[0] - old[0]
        figures[f"freed{generation}"] = (new[3] - old[3]) / streams
        figures[f"cpu{generation}"] = (new[2] - old[2]) * 1000
    figures["longest2"] = after["generations"]["2"][4] * 1000
    figures["collector_us"] = collector * 1e6 / streams
    figures["share"] = collector * 1000 / streams / figures["worker_ms"]
    return figures


def compare(*, emulator_url: str, env: dict[str, str], token: str, against: str, rounds: int, streams: int) -> str:
    import uvloop

    from bench.chat_tokens import worktree

    prefix = str(Path(tempfile.gettempdir()) / f"bench-gcprobe-{os.getpid()}")  # the probe's files, removed as read
    probed = {
        **env,
        "BENCH_GC_PROBE": prefix,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROBE), os.environ.get("PYTHONPATH", "")])),
    }
    results: dict[str, list[dict[str, float]]] = {}
    with ExitStack() as stack:
        old_tree, commit = stack.enter_context(worktree(against))
        trees = {commit: old_tree, "this tree": REPO}
        for round_index in range(rounds):
            order = list(trees) if round_index % 2 == 0 else list(reversed(trees))
            for name in order:
                with uvicorn_server(emulator_url, probed, workers=1, port=19721, tree=trees[name]) as (url, pid):
                    port = int(url.rsplit(":", 1)[1])
                    uvloop.run(_load(port, token, 20, 20))  # warm: clients, statements, caches
                    results.setdefault(name, []).append(_round(url, pid, token, prefix, streams, CLIENTS))
    lines = [
        f"### The collector's work per answer, this tree against {commit} (one worker, {rounds} interleaved rounds)",
        "",
        f"{streams} answers of {TOKENS} tokens at 20 ms, {CLIENTS} at a time, on one uvicorn worker per tree;",
        "the counters of a `gc.callbacks` hook (`bench/gcprobe`) before and after. Per round:",
        "",
        "| server | worker CPU per answer ms | collector CPU per answer µs (share) | collections gen0 / gen1 / full"
        " | objects freed per answer by gen0 / gen1 / full | full collections' CPU ms | longest full ms | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        for row in rows:
            lines.append(
                f"| {name} | {row['worker_ms']:.2f} | {row['collector_us']:.0f} ({row['share'] * 100:.1f} %) | "
                f"{row['collections0']:.0f} / {row['collections1']:.0f} / {row['collections2']:.0f} | "
                f"{row['freed0']:.1f} / {row['freed1']:.1f} / {row['freed2']:.1f} | {row['cpu2']:.0f} | "
                f"{row['longest2']:.1f} | {row['failed']:.0f} |"
            )
    medians = {name: sorted(row["collector_us"] for row in rows)[len(rows) // 2] for name, rows in results.items()}
    lines += [
        "",
        f"Collector CPU per answer, median of the rounds: this tree {medians['this tree']:.0f} µs, "
        f"{commit} {medians[commit]:.0f} µs ({medians[commit] / medians['this tree']:.2f} times less with this tree).",
        "",
    ]
    return "\n".join(lines)
