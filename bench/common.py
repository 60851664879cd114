"""Shared helpers for benchmarks: an emulator in its own process, percentiles, the results file."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
                yield match.group(1)
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
