"""What a durable commit costs on this machine's PostgreSQL, one statement at a time.

A turn is acknowledged once its statement has committed, and a commit waits for PostgreSQL to
flush its write-ahead log to disk. This measures that wait alone, with no server in between:
one connection in autocommit, one statement at a time with a short pause between them (as
requests one at a time arrive), in interleaved rounds:

- `SELECT 1`: a round trip (the baseline);
- a one-row INSERT into a temporary table (no write-ahead log: a round trip and a write);
- a one-row INSERT into a logged table (the write-ahead log flushed at commit, as a turn's);
- the same with `synchronous_commit` off (the flush left to the log writer: what a turn would
  cost without waiting for the disk, and could lose in a crash).

    python bench/pg_commit.py [--statements 300] [--rounds 3] [--write docs/benchmarks.md]

It uses its own database (`BENCH_DATABASE`, default `aia_bench`) on the local server and drops
its table afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, percentile, write_section

PAUSE_SECONDS = 0.02
KINDS = {
    "SELECT 1 (a round trip: the baseline)": ("on", "SELECT 1"),
    "one-row INSERT, temporary table (no write-ahead log)": ("on", "INSERT INTO pg_commit_temp VALUES (1)"),
    "one-row INSERT, logged table (durable commit, as a turn's)": ("on", "INSERT INTO pg_commit_probe VALUES (1)"),
    "the same, synchronous_commit off (not durable)": ("off", "INSERT INTO pg_commit_probe VALUES (1)"),
}


def measure(statements: int, rounds: int) -> str:
    import psycopg

    name = os.environ.get("BENCH_DATABASE", "aia_bench")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(f"CREATE DATABASE {name}")
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as connection:
        connection.execute("CREATE TEMPORARY TABLE pg_commit_temp (x int)")
        connection.execute("CREATE TABLE IF NOT EXISTS pg_commit_probe (x int)")
        try:
            for _ in range(rounds):
                for kind, (synchronous, sql) in KINDS.items():
                    connection.execute(f"SET synchronous_commit = {synchronous}")
                    for _ in range(statements):
                        started = time.perf_counter()
                        connection.execute(sql)
                        times[kind].append((time.perf_counter() - started) * 1000)
                        time.sleep(PAUSE_SECONDS)
        finally:
            connection.execute("SET synchronous_commit = on")
            connection.execute("DROP TABLE pg_commit_probe")
        settings = {
            setting: connection.execute(f"SHOW {setting}").fetchone()[0]  # type: ignore[index]
            for setting in ("fsync", "wal_sync_method", "synchronous_commit")
        }
    baseline = percentile(times[next(iter(KINDS))], 0.5)
    lines = [
        f"### One statement at a time ({statements} per round, {rounds} interleaved rounds)",
        "",
        f"{machine_line()}; PostgreSQL on loopback ("
        + ", ".join(f"`{setting} = {value}`" for setting, value in settings.items())
        + f"); {PAUSE_SECONDS * 1000:.0f} ms between statements.",
        "",
        "| statement | p50 ms | p99 ms | max ms | p50 ÷ baseline |",
        "|---|---|---|---|---|",
    ]
    for kind, values in times.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        lines.append(f"| {kind} | {p50:.2f} | {p99:.2f} | {max(values):.2f} | {p50 / baseline:.2f} |")
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    body = "## PostgreSQL: a durable commit, one at a time (`bench/pg_commit.py`)\n\n" + measure(
        args.statements, args.rounds
    )
    print(body)
    if args.write:
        write_section(args.write, "pg_commit", body)


if __name__ == "__main__":
    main()
