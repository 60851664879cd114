"""How much does backend.llm add to a stream? Layer vs raw SDK, per provider, same emulator, same run.

Measures, against the emulator running in its own process:
1. one stream at a time (unpaced, 64 tokens): time to first token (TTFT) and tokens/s for
   each provider's raw SDK and `backend.llm.service.astream` on that provider, interleaved:
   Bedrock (raw aiobotocore, raw boto3), the Anthropic API (raw `anthropic` async client) and
   an OpenAI-compatible server (raw `openai` async client);
2. N concurrent streams (default 200) at 20 ms/token: TTFT and inter-token latency (ITL)
   for raw aiobotocore and the layer.
The layer's figures include everything it does per call: registry lookup, cooldown check
in the cache, request translation, stream assembly, and the usage-ledger write at the end.

    python bench/llm_layer.py [--runs 300] [--concurrency 200] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, emulator_process, machine_line, summary, write_section

MODEL = "us.anthropic.claude-sonnet-4-6"
ANTHROPIC_MODEL = "claude-sonnet-4-6"
OPENAI_MODEL = "bench-llama"


def setup_django(emulator_url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["BEDROCK_ENDPOINT_URL"] = emulator_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def converse_body(prompt: str) -> dict:
    return {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": 4096},
    }


async def raw_async_stream(client, prompt: str) -> tuple[float, list[float], float]:
    """Returns (start time, arrival time of each text delta, CPU ms of this process until the first)."""
    started, cpu_started, cpu_first = time.perf_counter(), time.process_time(), 0.0
    arrivals: list[float] = []
    response = await client.converse_stream(**converse_body(prompt))
    async for event in response["stream"]:
        if "contentBlockDelta" in event and "text" in event["contentBlockDelta"]["delta"]:
            if not arrivals:
                cpu_first = (time.process_time() - cpu_started) * 1000
            arrivals.append(time.perf_counter())
    return started, arrivals, cpu_first


def raw_sync_stream(client, prompt: str) -> tuple[float, list[float], float]:
    started, cpu_started, cpu_first = time.perf_counter(), time.process_time(), 0.0
    arrivals: list[float] = []
    response = client.converse_stream(**converse_body(prompt))
    for event in response["stream"]:
        if "contentBlockDelta" in event and "text" in event["contentBlockDelta"]["delta"]:
            if not arrivals:
                cpu_first = (time.process_time() - cpu_started) * 1000
            arrivals.append(time.perf_counter())
    return started, arrivals, cpu_first


async def raw_anthropic_stream(client, prompt: str) -> tuple[float, list[float], float]:
    started, cpu_started, cpu_first = time.perf_counter(), time.process_time(), 0.0
    arrivals: list[float] = []
    stream = await client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=4096, messages=[{"role": "user", "content": prompt}], stream=True
    )
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            if not arrivals:
                cpu_first = (time.process_time() - cpu_started) * 1000
            arrivals.append(time.perf_counter())
    return started, arrivals, cpu_first


async def raw_openai_stream(client, prompt: str) -> tuple[float, list[float], float]:
    started, cpu_started, cpu_first = time.perf_counter(), time.process_time(), 0.0
    arrivals: list[float] = []
    stream = await client.chat.completions.create(
        model=OPENAI_MODEL,
        max_tokens=4096,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if not arrivals:
                cpu_first = (time.process_time() - cpu_started) * 1000
            arrivals.append(time.perf_counter())
    return started, arrivals, cpu_first


async def layer_stream(prompt: str, alias: str = "bench") -> tuple[float, list[float], float]:
    from backend.llm import service
    from backend.llm.types import CallContext, LLMRequest, Message, TextDelta

    request = LLMRequest(messages=(Message.user(prompt),), alias=alias, context=CallContext(purpose="bench"))
    started, cpu_started, cpu_first = time.perf_counter(), time.process_time(), 0.0
    arrivals: list[float] = []
    async for event in service.astream(request):
        if isinstance(event, TextDelta):
            if not arrivals:
                cpu_first = (time.process_time() - cpu_started) * 1000
            arrivals.append(time.perf_counter())
    return started, arrivals, cpu_first


def ttft_ms(started: float, arrivals: list[float]) -> float:
    return (arrivals[0] - started) * 1000


def tokens_per_second(arrivals: list[float]) -> float:
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def itl_ms(arrivals: list[float]) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]


# (client, provider) measured one stream at a time; raw SDKs and the layer alternate.
SEQUENTIAL = [
    ("raw aiobotocore", "Bedrock"),
    ("raw boto3", "Bedrock"),
    ("backend.llm", "Bedrock"),
    ("raw anthropic", "Anthropic API"),
    ("backend.llm", "Anthropic API"),
    ("raw openai", "OpenAI-compatible"),
    ("backend.llm", "OpenAI-compatible"),
]
LAYER_ALIASES = {"Bedrock": "bench", "Anthropic API": "bench-anthropic", "OpenAI-compatible": "bench-openai"}
RAW_BASELINES = {"Bedrock": "raw aiobotocore", "Anthropic API": "raw anthropic", "OpenAI-compatible": "raw openai"}


async def one_stream(name: str, provider: str, clients: dict, prompt: str) -> tuple[float, list[float], float]:
    if name == "raw aiobotocore":
        return await raw_async_stream(clients["aiobotocore"], prompt)
    if name == "raw boto3":
        return raw_sync_stream(clients["boto3"], prompt)
    if name == "raw anthropic":
        return await raw_anthropic_stream(clients["anthropic"], prompt)
    if name == "raw openai":
        return await raw_openai_stream(clients["openai"], prompt)
    return await layer_stream(prompt, LAYER_ALIASES[provider])


async def sequential(runs: int, clients: dict) -> dict[tuple[str, str], dict[str, list[float]]]:
    results: dict[tuple[str, str], dict[str, list[float]]] = {
        key: {"ttft": [], "tps": [], "cpu": []} for key in SEQUENTIAL
    }
    prompt = "[[emu:tokens=64]] benchmark"
    for index in range(runs + 20):
        for name, provider in SEQUENTIAL:
            started, arrivals, cpu_ms = await one_stream(name, provider, clients, prompt)
            if index >= 20:  # warm-up: connections, imports, caches
                results[(name, provider)]["ttft"].append(ttft_ms(started, arrivals))
                results[(name, provider)]["tps"].append(tokens_per_second(arrivals))
                results[(name, provider)]["cpu"].append(cpu_ms)
    return results


async def concurrent(concurrency: int, tokens: int, rounds: int, raw_client) -> dict[str, dict[str, list[float]]]:
    prompt = f"[[emu:tokens={tokens}]] [[emu:delay_ms=20]] concurrent"
    results: dict[str, dict[str, list[float]]] = {}
    # Warm-up: each client opens its pool of `concurrency` connections once, unmeasured.
    await asyncio.gather(*(raw_async_stream(raw_client, prompt) for _ in range(concurrency)))
    await asyncio.gather(*(layer_stream(prompt) for _ in range(concurrency)))
    for name in ("raw aiobotocore", "backend.llm") * rounds:  # alternated, so drift hits both alike
        if name == "raw aiobotocore":
            outcomes = await asyncio.gather(*(raw_async_stream(raw_client, prompt) for _ in range(concurrency)))
        else:
            outcomes = await asyncio.gather(*(layer_stream(prompt) for _ in range(concurrency)))
        entry = results.setdefault(name, {"ttft": [], "itl": [], "errors": [0]})
        for started, arrivals, _ in outcomes:
            if len(arrivals) != tokens:
                entry["errors"][0] += 1
                continue
            entry["ttft"].append(ttft_ms(started, arrivals))
            entry["itl"].extend(itl_ms(arrivals))
    return results


def make_clients(emulator_url: str):
    import boto3
    from aiobotocore.session import get_session
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, max_pool_connections=1000, read_timeout=90)
    kwargs = {
        "region_name": "us-east-1",
        "endpoint_url": emulator_url,
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
        "config": config,
    }
    return get_session().create_client("bedrock-runtime", **kwargs), boto3.client("bedrock-runtime", **kwargs)


def fmt(value: float) -> str:
    return f"{value:.2f}"


def configure_providers(emulator_url: str) -> None:
    """One alias per provider, every provider pointed at the emulator."""
    from django.conf import settings

    os.environ.setdefault("ANTHROPIC_API_KEY", "bench")
    settings.LLM_PROVIDERS = {
        "anthropic": {"base_url": emulator_url, "api_key_env": "ANTHROPIC_API_KEY"},
        "openai": {"base_url": f"{emulator_url}/v1", "api_key_env": ""},
    }
    settings.LLM_MODELS = [
        *settings.LLM_MODELS,
        {"id": OPENAI_MODEL, "provider": "openai", "context_window": 128_000, "max_output_tokens": 8192},
    ]
    settings.LLM_ALIASES = {
        **settings.LLM_ALIASES,
        "bench": {"label": "bench", "chain": [MODEL]},
        "bench-anthropic": {"label": "bench", "chain": [ANTHROPIC_MODEL]},
        "bench-openai": {"label": "bench", "chain": [OPENAI_MODEL]},
    }
    from backend.llm import providers

    providers.preload()  # what the app does at start-up when its aliases use these providers


async def main_async(args: argparse.Namespace, emulator_url: str) -> str:
    import anthropic
    import openai

    load_before = os.getloadavg()[0]
    configure_providers(emulator_url)
    raw_context, sync_client = make_clients(emulator_url)
    clients = {
        "boto3": sync_client,
        "anthropic": anthropic.AsyncAnthropic(api_key="bench", base_url=emulator_url, max_retries=1),
        "openai": openai.AsyncOpenAI(api_key="bench", base_url=f"{emulator_url}/v1", max_retries=1),
    }
    async with raw_context as raw_client:
        clients["aiobotocore"] = raw_client
        seq = await sequential(args.runs, clients)
        conc = await concurrent(args.concurrency, args.tokens, args.rounds, raw_client)
    await clients["anthropic"].close()
    await clients["openai"].close()
    from backend.llm import service

    await service.aclose_clients()

    lines = [
        "## LLM layer overhead (`bench/llm_layer.py`)",
        "",
        f"Emulator in its own process; {machine_line()}; {args.runs} interleaved runs after 20 warm-up runs;",
        f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(the machine is shared).",
        "The layer's figures include registry lookup, the cooldown check in the cache, request translation,",
        "stream assembly and the usage-ledger write (SQLite unless DATABASE_URL is set). Each provider's raw",
        "SDK and the layer on that provider talk to the same emulator, over that provider's own protocol.",
        "",
        "### One stream at a time (64 tokens, unpaced)",
        "",
        "CPU ms to first token: this process's CPU time from the call to the first text delta, which the",
        "load of other processes on the shared machine does not inflate (wall-clock TTFT it does).",
        "",
        "| provider | client | TTFT p50 ms | TTFT p99 ms | tokens/s p50 | CPU ms to first token p50 |",
        "|---|---|---|---|---|---|",
    ]
    for (name, provider), values in seq.items():
        ttft, tps, cpu = summary(values["ttft"]), summary(values["tps"]), summary(values["cpu"])
        lines.append(
            f"| {provider} | {name} | {fmt(ttft['p50'])} | {fmt(ttft['p99'])} | {tps['p50']:.0f} | {fmt(cpu['p50'])} |"
        )
    lines.append("")
    for provider, raw_name in RAW_BASELINES.items():
        raw, layer = seq[(raw_name, provider)], seq[("backend.llm", provider)]
        raw_ttft, layer_ttft = summary(raw["ttft"]), summary(layer["ttft"])
        # Raw and layer streams of one iteration run back to back: their difference is immune to
        # load that drifts over the run (the machine is shared).
        paired = summary([b - a for a, b in zip(raw["ttft"], layer["ttft"], strict=True)])
        paired_cpu = summary([b - a for a, b in zip(raw["cpu"], layer["cpu"], strict=True)])
        lines.append(
            f"- {provider}: TTFT added by the layer vs {raw_name}: paired difference p50 "
            f"**{fmt(paired['p50'])} ms** (p95 {fmt(paired['p95'])} ms); difference of medians "
            f"{fmt(layer_ttft['p50'] - raw_ttft['p50'])} ms; tokens/s layer / raw: "
            f"**{summary(layer['tps'])['p50'] / summary(raw['tps'])['p50']:.3f}**; CPU to first token added "
            f"(paired) p50: **{fmt(paired_cpu['p50'])} ms**."
        )
    lines += [
        "",
        f"### {args.concurrency} concurrent streams, {args.tokens} tokens at 20 ms/token",
        "",
        f"{args.rounds} alternating rounds per client, after one unmeasured warm-up round each.",
        "",
        "| client | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | failed streams |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in conc.items():
        ttft, itl = summary(values["ttft"]), summary(values["itl"])
        lines.append(
            f"| {name} | {fmt(ttft['p50'])} | {fmt(ttft['p99'])} | {fmt(itl['p50'])} | {fmt(itl['p99'])} "
            f"| {int(values['errors'][0])} |"
        )
    raw_itl, layer_itl = summary(conc["raw aiobotocore"]["itl"]), summary(conc["backend.llm"]["itl"])
    raw_cttft, layer_cttft = summary(conc["raw aiobotocore"]["ttft"]), summary(conc["backend.llm"]["ttft"])
    lines += [
        "",
        f"- Added TTFT under load: p50 {fmt(layer_cttft['p50'] - raw_cttft['p50'])} ms "
        f"(ratio {layer_cttft['p50'] / raw_cttft['p50']:.2f}).",
        f"- Added ITL under load: p50 {fmt(layer_itl['p50'] - raw_itl['p50'])} ms, "
        f"p99 {fmt(layer_itl['p99'] - raw_itl['p99'])} ms (ratio p99 {layer_itl['p99'] / raw_itl['p99']:.2f}).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of the concurrent test")
    parser.add_argument("--write", type=Path, help="write the figures into this markdown file")
    args = parser.parse_args()
    with emulator_process() as emulator_url:
        setup_django(emulator_url)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        report = runner(main_async(args, emulator_url))
    print(report)
    if args.write:
        write_section(REPO / args.write if not args.write.is_absolute() else args.write, "llm_layer", report)


if __name__ == "__main__":
    main()
