"""Every make target the README lists works on a fresh checkout, exactly as written.

Each target runs as a newcomer would type it: no DEBUG, no SECRET_KEY, no services, in a clean
environment (a throwaway SQLite file stands for the checkout's own). The virtualenv stamps are
marked as up to date (`make -o`), so the shared virtualenv is used instead of a 600 MB install.
Long-running targets (run, worker, beat, emulator) count as working once they say they are up.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
STAMPS = ["-o", ".venv/.installed", "-o", ".venv/.installed-runtime"]

# The targets the tests below run.
TRIED = {"help", "migrate", "superuser", "migrations-check", "imports", "run", "worker", "beat", "emulator", "clean"}
# Targets not started here, and why.
NOT_RUN_HERE = {
    "test": "the gate itself (this suite is part of it)",
    "pytest": "this suite",
    "lint": "run by the gate",
    "typecheck": "run by the gate",
    "fmt": "rewrites the checkout",
    "bench": "minutes of benchmarks against PostgreSQL and Redis",
    "lock": "re-pins from the package index (network)",
    "fuzz": "minutes of schemathesis; .ci/run runs it after the gate",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    """What a newcomer's shell has: no DEBUG, no SECRET_KEY, no backing services configured."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    env["BEAT_SCHEDULE"] = str(tmp_path / "celerybeat-schedule")
    env["PORT"] = str(_free_port())
    env["EMULATOR_PORT"] = str(_free_port())
    return env


def make(target: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *STAMPS, target],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Background:
    """A long-running make target whose output is read line by line."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", *STAMPS, target],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.seen)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for process in started:
        process.stop()


def test_every_documented_target_is_tried_here_or_said_why_not():
    documented = set(re.findall(r"`make ([a-z-]+)`", README))
    assert documented == TRIED | set(NOT_RUN_HERE)


def test_make_help_lists_the_targets(fresh_env):
    result = make("help", fresh_env)

    assert result.returncode == 0, result.stderr
    assert "superuser" in result.stdout
    assert "run " in result.stdout


def test_make_migrate_and_superuser_without_debug_or_secret_key(fresh_env):
    migrated = make("migrate", fresh_env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    fresh_env |= {"DJANGO_SUPERUSER_EMAIL": "admin@example.com", "DJANGO_SUPERUSER_PASSWORD": "a-long-admin-pass"}
    created = make("superuser", fresh_env)

    assert created.returncode == 0, created.stdout + created.stderr
    assert "Superuser created successfully." in created.stdout


def test_make_migrations_check(fresh_env):
    result = make("migrations-check", fresh_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_make_imports(fresh_env):
    result = make("imports", fresh_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
def test_make_run_serves_the_product(fresh_env, background):
    run = Background("run", fresh_env)
    background.append(run)

    run.wait_for(r"Uvicorn running on")
    with urllib.request.urlopen(f"http://127.0.0.1:{fresh_env['PORT']}/healthz", timeout=10) as response:
        assert response.status == 200


@pytest.mark.slow
def test_make_worker_starts(fresh_env, background):
    worker = Background("worker", fresh_env | {"CELERY_BROKER_URL": "memory://"})
    background.append(worker)

    worker.wait_for(r"ready\.")


@pytest.mark.slow
def test_make_beat_keeps_its_schedule_outside_the_checkout(fresh_env, background):
    before = set(REPO.glob("celerybeat-schedule*"))
    beat = Background("beat", fresh_env)
    background.append(beat)

    beat.wait_for(r"beat: Starting")
    beat.stop()

    assert set(REPO.glob("celerybeat-schedule*")) == before
    assert list(Path(fresh_env["BEAT_SCHEDULE"]).parent.glob("celerybeat-schedule*"))


def test_make_emulator_starts(fresh_env, background):
    emulator = Background("emulator", fresh_env)
    background.append(emulator)

    emulator.wait_for(rf"LLM emulator listening on http://127.0.0.1:{fresh_env['EMULATOR_PORT']}")


def test_make_clean_removes_what_the_targets_create(tmp_path, fresh_env):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(REPO / "Makefile", checkout / "Makefile")
    created = [
        ".venv/bin/python",
        "db.sqlite3",
        "media/avatars/a.png",
        "staticfiles/admin/base.css",
        ".mypy_cache/x",
        ".ruff_cache/x",
        ".pytest_cache/x",
        ".import_linter_cache/x",
        ".test-artifacts/admin/index.png",
    ]
    for relative in created:
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        (checkout / relative).write_text("x")
    schedule = Path(fresh_env["BEAT_SCHEDULE"])
    for suffix in ("", ".bak", ".dat", ".dir"):
        Path(f"{schedule}{suffix}").write_text("x")
    (checkout / "kept.py").write_text("x")

    result = subprocess.run(
        ["make", "clean"], cwd=checkout, env=fresh_env, capture_output=True, text=True, check=False, timeout=30
    )

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in checkout.iterdir()) == ["Makefile", "kept.py"]
    assert not list(schedule.parent.glob("celerybeat-schedule*"))


def test_make_run_on_a_fresh_checkout_installs_only_the_runtime_requirements_and_shows_progress(tmp_path, fresh_env):
    # A dry run (-n) against a virtualenv that does not exist yet: what a first `make run` would do.
    result = subprocess.run(
        ["make", "-n", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        env=fresh_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    installs = [line for line in result.stdout.splitlines() if "pip install" in line and " -r " in line]
    assert installs, result.stdout
    assert all("requirements/base.txt" in line and "requirements/dev.txt" not in line for line in installs)
    assert not any("--quiet" in line for line in installs)
