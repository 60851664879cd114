"""CPU and wall time of one ConverseStream call: the aiobotocore client's path against `bedrock.send`.

Both run in this process against the emulator (its own process), on the same aiobotocore client,
interleaved in rounds; each call opens the stream and consumes its three tokens. Measured for a
one-message request and for a 201-message one (200 earlier messages, the follow-up case).

    python bench/bedrock_send.py [--calls 300] [--rounds 3] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, emulator_process, machine_line, write_section
from bench.llm_layer import MODEL, setup_django


def _request(history: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for index in range(history // 2):
        messages.append({"role": "user", "content": [{"text": f"question {index} " * 20}]})
        messages.append({"role": "assistant", "content": [{"text": f"answer {index} " * 40}]})
    messages.append({"role": "user", "content": [{"text": "hi [[emu:tokens=3]]"}]})
    return {"modelId": MODEL, "messages": messages, "inferenceConfig": {"maxTokens": 100}}


async def _measure(open_stream: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    """CPU ms and wall ms per call (open, consume, close)."""
    for _ in range(20):  # warm-up
        await _consume(await open_stream())
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await _consume(await open_stream())
    return (time.process_time() - cpu) / calls * 1000, (time.perf_counter() - wall) / calls * 1000


async def _consume(response: dict[str, Any]) -> None:
    stream = response["stream"]
    try:
        async for _event in stream:
            pass
    finally:
        stream.close()


async def run(calls: int, rounds: int) -> str:
    from backend.llm import bedrock

    client = await bedrock.async_client(stream=True)
    lines = [
        "## Bedrock: one ConverseStream call, the client's path against `bedrock.send` (`bench/bedrock_send.py`)",
        "",
        f"{machine_line()}; the emulator in its own process; {calls} calls per figure, {rounds} interleaved "
        "rounds (medians); each call opens the stream and consumes three tokens.",
        "",
        "| request | client CPU ms | `send` CPU ms | ratio | client wall ms | `send` wall ms |",
        "|---|---|---|---|---|---|",
    ]
    for history in (0, 200):
        kwargs = _request(history)
        figures: dict[str, list[tuple[float, float]]] = {"client": [], "send": []}
        for _ in range(rounds):
            figures["client"].append(await _measure(lambda k=kwargs: client.converse_stream(**k), calls))
            figures["send"].append(
                await _measure(lambda k=kwargs: bedrock.send("ConverseStream", k, stream=True), calls)
            )
        c_cpu = statistics.median(cpu for cpu, _ in figures["client"])
        s_cpu = statistics.median(cpu for cpu, _ in figures["send"])
        c_wall = statistics.median(wall for _, wall in figures["client"])
        s_wall = statistics.median(wall for _, wall in figures["send"])
        lines.append(
            f"| {history + 1} message{'s' if history else ''} | {c_cpu:.2f} | {s_cpu:.2f} | "
            f"{c_cpu / s_cpu:.2f}x less | {c_wall:.2f} | {s_wall:.2f} |"
        )
    await bedrock.aclose_clients()
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    with emulator_process() as emulator_url:
        setup_django(emulator_url)
        report = asyncio.run(run(args.calls, args.rounds))
    print(report)
    if args.write:
        write_section(args.write if args.write.is_absolute() else REPO / args.write, "bedrock_send", report)


if __name__ == "__main__":
    main()
