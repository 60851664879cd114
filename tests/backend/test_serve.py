"""`python -m backend.serve`: uvicorn whose workers each listen on their own socket (SO_REUSEPORT)."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from uvicorn.config import STARTUP_FAILURE, Config

import backend.serve
from backend.serve import ReusePortMultiprocess, ReusePortProcess, reuse_port_socket

REPO = Path(__file__).resolve().parents[2]
APP = "tests.backend.pid_asgi_app:app"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads sockets from /proc")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            children |= {int(child) for child in (task / "children").read_text().split()}
    return children


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on `port` (state 0A in /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _listeners(parent: int, port: int) -> dict[int, set[str]]:
    """Each process of the server (the supervisor and its workers) and the listening sockets it holds."""
    listening = _listening_inodes(port)
    return {pid: _socket_inodes(pid) & listening for pid in {parent, *_children(parent)}}


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("the server did not get there in time")


def _answering_pid(connection: socket.socket) -> int:
    connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = connection.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


@pytest.fixture
def server():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.serve", APP, "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: sum(bool(held) for held in _listeners(process.pid, port).values()) == 2)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def test_each_worker_listens_on_its_own_socket(server):
    process, port = server

    listeners = _listeners(process.pid, port)

    assert listeners.pop(process.pid) == set()
    workers = [held for held in listeners.values() if held]  # (multiprocessing's tracker holds none)
    assert len(workers) == 2
    first, second = workers
    assert len(first) == len(second) == 1 and first != second


def test_connections_opened_at_once_are_spread_over_the_workers(server):
    _, port = server
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(32)]
    try:
        served = Counter(_answering_pid(connection) for connection in connections)
    finally:
        for connection in connections:
            connection.close()

    # The kernel spreads them by address: 32 land 16/16 give or take a few, never all on one
    # (uvicorn's shared socket gave 32/0 or 31/1 in most runs). ≤ 3 on one side: p ≈ 3e-6.
    assert len(served) == 2 and min(served.values()) >= 4, served


def test_a_worker_that_dies_is_replaced_by_one_with_its_own_socket(server):
    process, port = server
    victim = next(pid for pid, held in _listeners(process.pid, port).items() if held)

    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        listeners = _listeners(process.pid, port)
        return victim not in listeners and sum(bool(held) for held in listeners.values()) == 2

    _wait_for(replaced)
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    with connection:
        assert _answering_pid(connection) in _children(process.pid)


def test_a_worker_that_cannot_bind_stops_as_a_failed_start():
    with socket.socket() as taken:  # a socket without SO_REUSEPORT: nobody can join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = Config(APP, host="127.0.0.1", port=port, workers=2)

        with pytest.raises(OSError, match="in use"):
            reuse_port_socket(config)
        with pytest.raises(SystemExit) as exited:
            ReusePortProcess(config, []).target()

    assert exited.value.code == STARTUP_FAILURE


def test_install_makes_uvicorn_supervise_with_the_reuse_port_workers(monkeypatch):
    from uvicorn.supervisors import multiprocess

    uvicorn_main = importlib.import_module("uvicorn.main")
    monkeypatch.setattr(multiprocess, "Process", multiprocess.Process)  # restored after the test
    monkeypatch.setattr(uvicorn_main, "Multiprocess", uvicorn_main.Multiprocess)

    backend.serve.install()

    assert multiprocess.Process is ReusePortProcess
    assert uvicorn_main.Multiprocess is ReusePortMultiprocess  # what `uvicorn.run` supervises with


def test_the_supervisor_closes_the_shared_socket_but_keeps_a_unix_socket(monkeypatch, tmp_path):
    monkeypatch.setattr("signal.signal", lambda *args: None)  # the supervisor installs its handlers
    shared = socket.socket()
    supervisor = ReusePortMultiprocess(Config(APP, host="127.0.0.1", port=8000, workers=2), [shared])

    assert shared.fileno() == -1 and supervisor.sockets == []  # each worker binds its own

    unix = socket.socket(socket.AF_UNIX)
    kept = ReusePortMultiprocess(Config(APP, uds=str(tmp_path / "app.sock"), workers=2), [unix])
    assert unix.fileno() != -1 and kept.sockets == [unix]
    unix.close()
