"""Server CPU per streamed token and per answer: this tree against another revision, in one run.

    python bench/chat.py tokens [--against REF] [--rounds 3]

Both trees are served at once (one uvicorn worker each, same database, emulator and Redis), and
the measurement of `bench/chat_latency.py` (100 streams of 300 tokens minus 100 of 3, 20 ms per
token, the server's CPU from /proc) alternates between them for `--rounds` rounds, each round
also measuring the floor: aiobotocore consuming the same streams in this process with no server.
This tree is also measured with two workers. Then the CPU of admitting and finishing an answer:
200 answers of 3 tokens arriving within one second, on each tree (one worker), interleaved for
the same rounds; and the same sustained: 2,000 answers one after another on four connections,
while the process keeps the last minute's finished answers. Medians of the rounds are reported,
with ratios.
`REF` (default `HEAD~1`) is checked out into a temporary git worktree and removed afterwards.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import REPO, uvicorn_server


@contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """A detached checkout of `ref`, and its short commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as parent:
        path = Path(parent) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), commit], cwd=REPO, check=True)
        try:
            yield path, commit
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False)


def compare(*, emulator_url: str, env: dict[str, str], token: str, against: str, rounds: int) -> str:
    import uvloop

    from bench.chat import emulator_client
    from bench.chat_latency import cpu_per_token

    figures: dict[str, list[float]] = {"before": [], "after": [], "after2": [], "floor": []}
    answers: dict[str, list[float]] = {"before": [], "after": []}
    sustained: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    messages: dict[str, list[int]] = {"before": [], "after": []}
    with ExitStack() as stack:
        old_tree, commit = stack.enter_context(worktree(against))
        before = stack.enter_context(uvicorn_server(emulator_url, env, workers=1, port=19701, tree=old_tree))
        after = stack.enter_context(uvicorn_server(emulator_url, env, workers=1, port=19702))
        after2 = stack.enter_context(uvicorn_server(emulator_url, env, workers=2, port=19703))

        async def run() -> None:
            async with emulator_client(emulator_url) as boto_client:
                for _ in range(rounds):
                    for name, (url, pid) in (("before", before), ("after", after), ("after2", after2)):
                        product, floor = await cpu_per_token(
                            server_url=url, server_pid=pid, token=token, boto_client=boto_client
                        )
                        figures[name].append(product)
                        figures["floor"].append(floor)
                for _ in range(rounds):
                    for name, (url, pid) in (("before", before), ("after", after)):
                        _clear_queued_messages()
                        answers[name].append(await cpu_per_answer(server_url=url, server_pid=pid, token=token))
                        messages[name].append(_queued_messages())
                for index in range(rounds):
                    pairs = (("before", before), ("after", after))
                    for name, (url, pid) in pairs if index % 2 == 0 else pairs[::-1]:
                        sustained[name].append(
                            await cpu_per_sustained_answer(server_url=url, server_pid=pid, token=token)
                        )
                        _clear_queued_messages()

        uvloop.run(run())
    return (
        _report(figures, commit, rounds)
        + _answers_report(answers, commit, rounds)
        + _sustained_report(sustained, commit, rounds)
        + _messages_report(messages, commit, _publish_cost_ms())
    )


def _broker() -> Any:
    """A Redis client of the bench's Celery broker."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _queue_keys(broker: Any) -> list[bytes]:
    """The Redis lists of the follow-ups' queue (and its priority levels) on the bench's broker."""
    from django.conf import settings

    pattern = f"{settings.CHAT_BACKGROUND_QUEUE}*"
    return [key for key in broker.scan_iter(match=pattern) if broker.type(key) == b"list"]


def _queued_messages() -> int:
    """Celery messages waiting in the follow-ups' queue (nothing consumes them in the benchmark)."""
    broker = _broker()
    return sum(int(broker.llen(key)) for key in _queue_keys(broker))


def _clear_queued_messages() -> None:
    broker = _broker()
    for key in _queue_keys(broker):
        broker.delete(key)


def _publish_cost_ms(count: int = 1000) -> float:
    """CPU ms of publishing one follow-up message (`backend.tasks.dispatch` to the broker), in process."""
    import time

    from backend.tasks import dispatch
    from chat.tasks import generate_chat_title

    queue, args = "bench-publish-cost", ("00000000-0000-0000-0000-000000000000",)
    for _ in range(50):  # connection, routing and the task's message template warmed up
        dispatch(generate_chat_title, args=args, queue=queue)
    started = time.process_time()
    for _ in range(count):
        dispatch(generate_chat_title, args=args, queue=queue)
    cost = (time.process_time() - started) / count * 1000
    _broker().delete(queue)
    return cost


def _messages_report(messages: dict[str, list[int]], commit: str, publish_ms: float) -> str:
    def per_thousand(values: list[int]) -> str:
        return ", ".join(f"{value * 1000 / ANSWERS:.0f}" for value in values)

    return "\n".join(
        [
            f"Celery messages the follow-ups of those answers took, per 1,000 answers (each round): {commit} "
            f"{per_thousand(messages['before'])}; this tree {per_thousand(messages['after'])}. Publishing one "
            f"costs {publish_ms:.2f} ms of CPU (`backend.tasks.dispatch` to the broker, in the bench process).",
            "",
        ]
    )


ANSWERS = 200  # answers per round of `cpu_per_answer`


async def cpu_per_answer(*, server_url: str, server_pid: int, token: str, answers: int = ANSWERS) -> float:
    """Server CPU ms per answer of 3 tokens, `answers` of them arriving within one second."""
    import asyncio

    from bench.chat_latency import _load_prompt, _spread, _stream_figures
    from bench.common import raw_sse_post, tree_cpu_seconds

    host, port = server_url.removeprefix("http://").split(":")
    body = ('{"content": "' + _load_prompt(3, 20) + '"}').encode()
    before = tree_cpu_seconds(server_pid)
    results = await _spread(
        answers,
        lambda: raw_sse_post(
            host, int(port), "/api/v1/chat/messages/", body, headers={"Authorization": f"Token {token}"}
        ),
    )
    if _stream_figures(results, 3)[2]:
        raise RuntimeError("answers failed while measuring CPU per answer")
    await asyncio.sleep(1.0)  # terminal writes and the last log flush
    return (tree_cpu_seconds(server_pid) - before) / answers * 1000


SUSTAINED_ANSWERS, SUSTAINED_CLIENTS = 2000, 4  # `cpu_per_sustained_answer`


async def cpu_per_sustained_answer(
    *, server_url: str, server_pid: int, token: str, answers: int = SUSTAINED_ANSWERS, clients: int = SUSTAINED_CLIENTS
) -> tuple[float, float]:
    """(server CPU ms per answer, answers per second): answers of 3 tokens one after another on each
    of `clients` connections, `answers` in all. What a process spends per answer while it keeps
    a minute of finished answers' logs (`STREAM_LOCAL_RETENTION_SECONDS`) in memory."""
    import asyncio
    import time

    from bench.chat_latency import _load_prompt
    from bench.common import raw_sse_post, tree_cpu_seconds

    host, port = server_url.removeprefix("http://").split(":")
    body = ('{"content": "' + _load_prompt(3, 20) + '"}').encode()
    headers = {"Authorization": f"Token {token}"}

    async def client(count: int) -> None:
        for _ in range(count):
            await raw_sse_post(host, int(port), "/api/v1/chat/messages/", body, headers=headers)

    before, started = tree_cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(client(answers // clients) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)  # terminal writes and the last log flush
    done = answers // clients * clients
    return (tree_cpu_seconds(server_pid) - before) / done * 1000, done / elapsed


def _sustained_report(sustained: dict[str, list[tuple[float, float]]], commit: str, rounds: int) -> str:
    before = statistics.median(cpu for cpu, _ in sustained["before"])
    after = statistics.median(cpu for cpu, _ in sustained["after"])

    def row(label: str, name: str) -> str:
        cpu = statistics.median(value for value, _ in sustained[name])
        rate = statistics.median(value for _, value in sustained[name])
        rounds_text = ", ".join(f"{value:.1f}" for value, _ in sustained[name])
        return f"| {label} | {cpu:.1f} | {rounds_text} | {rate:.0f} |"

    return "\n".join(
        [
            f"### Server CPU per answer, sustained: this tree against {commit} ({rounds} interleaved rounds)",
            "",
            f"{SUSTAINED_ANSWERS:,} answers of 3 tokens, one after another on each of {SUSTAINED_CLIENTS} connections",
            "(the finished answers of the last minute stay in the process), one worker per tree.",
            "",
            "| server | median ms per answer | rounds | answers/s |",
            "|---|---|---|---|",
            row(commit, "before"),
            row("this tree", "after"),
            "",
            f"This tree uses {_compared(before, after)} CPU per answer than {commit}.",
            "",
        ]
    )


def _compared(before: float, after: float) -> str:
    """ "1.25x less" or "1.02x more": the change from `before` to `after`, never a ratio below one."""
    return f"{before / after:.2f}x less" if after <= before else f"{after / before:.2f}x more"


def _answers_report(answers: dict[str, list[float]], commit: str, rounds: int) -> str:
    before, after = statistics.median(answers["before"]), statistics.median(answers["after"])
    return "\n".join(
        [
            f"### Server CPU per answer, this tree against {commit} ({rounds} interleaved rounds)",
            "",
            "200 answers of 3 tokens arriving within one second (admission, the model call, three",
            "tokens, finishing), the server's CPU from /proc, one worker per tree.",
            "",
            "| server | median ms per answer | rounds |",
            "|---|---|---|",
            f"| {commit} | {before:.1f} | {', '.join(f'{value:.1f}' for value in answers['before'])} |",
            f"| this tree | {after:.1f} | {', '.join(f'{value:.1f}' for value in answers['after'])} |",
            "",
            f"This tree uses {_compared(before, after)} CPU per answer than {commit}.",
            "",
        ]
    )


def _report(figures: dict[str, Any], commit: str, rounds: int) -> str:
    median = {name: statistics.median(values) for name, values in figures.items()}
    floor = median["floor"]

    def row(label: str, name: str) -> str:
        values = ", ".join(f"{value:.0f}" for value in figures[name])
        return f"| {label} | {median[name]:.0f} | {values} | {median[name] / floor:.2f} |"

    return "\n".join(
        [
            f"### Server CPU per streamed token, this tree against {commit} ({rounds} interleaved rounds)",
            "",
            "100 streams of 300 tokens minus 100 of 3 (20 ms per token), the server's CPU from /proc; both",
            "trees served at once on the same database, emulator and Redis. Floor: aiobotocore consuming",
            "the same streams with no server, measured in every round.",
            "",
            "| server | median µs per token | rounds | ÷ floor |",
            "|---|---|---|---|",
            row(f"{commit}, 1 worker", "before"),
            row("this tree, 1 worker", "after"),
            row("this tree, 2 workers", "after2"),
            row("aiobotocore consumer alone (floor)", "floor"),
            "",
            f"This tree uses {_compared(median['before'], median['after'])} CPU per token than {commit} "
            "(one worker each). Target: at most 2x the floor.",
            "",
        ]
    )
