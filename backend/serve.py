"""uvicorn with one listening socket per worker (`SO_REUSEPORT`) when it runs several workers.

uvicorn's supervisor binds one socket and every worker accepts from it. Under uvloop a worker
that wakes for a new connection accepts every connection waiting in the backlog, so a burst of
new connections piles onto one worker: 32 keep-alive connections opened at once (what nginx's
`keepalive 32` to this upstream does, or the read benchmark) were split 24/8 or worse in 14 of
18 loads on two workers, all 32 on one in 4 of them, and the busier worker set the pace (all on
one: half the throughput, twice the latency). With `SO_REUSEPORT` each worker binds its own socket on
the same address and the kernel spreads new connections over them (16/16 to 19/13 for the same
32), whatever the workers are doing.

Linux lets only sockets of the same user join such a group, so another account on the host
cannot take a share of the connections.

`python -m backend.serve` takes uvicorn's command line unchanged (`uvicorn --help`);
`manage.py serve` uses the same supervisor. One worker, `--uds`, `--fd`, port 0 and `--reload`
keep uvicorn's own behaviour. A worker whose socket cannot be bound stops the supervisor, as a worker
that fails to start does in uvicorn.
"""

from __future__ import annotations

import importlib
import logging
import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import multiprocess

# The module, not the `main` command that the package's `uvicorn.main` attribute names.
uvicorn_main: Any = importlib.import_module("uvicorn.main")

logger = logging.getLogger("uvicorn.error")


def reuse_port_socket(config: Config) -> socket.socket:
    """A TCP socket bound to `config`'s host and port with `SO_REUSEPORT` (one per worker)."""
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    return sock


class ReusePortProcess(multiprocess.Process):
    """A worker that binds its own `SO_REUSEPORT` socket (in the child) instead of the shared one."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in the child
        try:
            own = reuse_port_socket(self.config)
        except OSError as exc:
            logger.error("could not bind %s:%s: %s", self.config.host, self.config.port, exc)
            sys.exit(STARTUP_FAILURE)
        super().target([own])


class ReusePortMultiprocess(multiprocess.Multiprocess):
    """uvicorn's supervisor whose workers each listen on their own socket (see the module docstring)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        if config.uds or config.fd is not None or not config.port:  # no fixed TCP address: the shared socket
            super().__init__(config, sockets=sockets)
            return
        # uvicorn bound the shared socket to report a taken address before starting workers;
        # every worker binds its own instead (the kernel spreads new connections over them).
        for shared in sockets:
            shared.close()
        super().__init__(config, sockets=[])


def install() -> None:
    """Make `uvicorn.run` and uvicorn's command line supervise workers with their own sockets."""
    # uvicorn's supervisor creates its workers through the module's `Process` name (start,
    # restart after a crash, SIGHUP, SIGTTIN): the reuse-port worker takes its place.
    multiprocess.Process = ReusePortProcess  # type: ignore[misc]
    uvicorn_main.Multiprocess = ReusePortMultiprocess


def main() -> Any:
    install()
    return uvicorn_main.main()


if __name__ == "__main__":
    # Imported by name, so the spawned workers unpickle `backend.serve.ReusePortProcess`, not `__main__`'s.
    from backend.serve import main as serve_main

    serve_main()
