"""The LiteLLM proxy as a peer in the chat benchmarks: installed from PyPI into its own virtualenv.

The version is pinned in `bench/requirements-litellm.txt`. The proxy runs with no database (its
default), one worker, and one model on the `bedrock/converse/` route pointed at the emulator's
Bedrock endpoint (the emulator serves Converse and ConverseStream only). It persists nothing;
the product writes the turn durably before it answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import free_port

REQUIREMENTS = Path(__file__).resolve().parent / "requirements-litellm.txt"
MASTER_KEY = "sk-bench-only"
MODEL_NAME = "bench-claude"
# A streamed chunk that carries text (the role-only first chunk and empty deltas do not count).
_CONTENT = re.compile(rb'"content":\s*"(?:[^"\\]|\\.)+"')


def _venv() -> tuple[Path | None, str]:
    """The virtualenv with the pinned LiteLLM (created on first use), or None and why not."""
    pins = REQUIREMENTS.read_text()
    cache = Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "aia-bench"))
    venv = cache / f"litellm-{hashlib.sha256(pins.encode()).hexdigest()[:12]}"
    if (venv / "bin" / "litellm").exists():
        return venv, ""
    print(f"installing the LiteLLM proxy into {venv} (once) ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)],
            check=True,
            timeout=1800,
            stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"LiteLLM could not be installed from the package index ({exc})"
    return venv, ""


@contextmanager
def litellm_process(emulator_url: str, model_id: str) -> Iterator[tuple[str | None, str]]:
    """Yield (the proxy's URL, "") — or (None, why it is skipped) when it cannot be installed or started."""
    venv, why = _venv()
    if venv is None:
        yield None, why
        return
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.json"  # YAML is a superset of JSON
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": MODEL_NAME,
                            "litellm_params": {
                                "model": f"bedrock/converse/{model_id}",
                                "aws_bedrock_runtime_endpoint": emulator_url,
                                "aws_access_key_id": "bench",
                                "aws_secret_access_key": "bench",
                                "aws_region_name": "us-east-1",
                            },
                        }
                    ],
                    "general_settings": {"master_key": MASTER_KEY},
                }
            )
        )
        port = free_port()
        command = [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--num_workers", "1"],
            # No database and no Redis: the proxy's default (an empty DATABASE_URL would be an error).
            env={
                **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                "LITELLM_LOG": "ERROR",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=folder,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{url}/health/liveliness", timeout=2)  # noqa: S310 - our own loopback proxy
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        yield None, "the LiteLLM proxy did not start"
                        return
                    time.sleep(0.5)
            yield url, ""
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


async def litellm_stream(host: str, port: int, prompt: str) -> tuple[float, list[float], bool]:
    """A streamed `/chat/completions` through the proxy: (start, arrival times of text chunks, ended)."""
    body = json.dumps(
        {"model": MODEL_NAME, "messages": [{"role": "user", "content": prompt}], "stream": True, "max_tokens": 4096}
    ).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST /chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {MASTER_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )
    arrivals: list[float] = []
    ended = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        arrivals.extend([time.perf_counter()] * len(_CONTENT.findall(chunk)))
        if b"[DONE]" in chunk:
            ended = True
            break
    writer.close()
    return started, arrivals, ended
