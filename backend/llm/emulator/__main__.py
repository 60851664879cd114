"""Run the LLM emulator: ``python -m backend.llm.emulator --host 127.0.0.1 --port 8765``.

It answers Bedrock Runtime (``endpoint_url``), the Anthropic Messages API (``base_url``
= the URL) and OpenAI Chat Completions (``base_url`` = the URL + ``/v1``).  Prints
``LLM emulator listening on http://HOST:PORT`` once bound (with ``--port 0`` this
line tells the actual port) and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import gc
import logging

from backend.llm.emulator.server import EmulatorServer

logger = logging.getLogger("backend.llm.emulator")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend.llm.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--min-cache-tokens", type=int, default=1024)
    parser.add_argument("--max-output-tokens", type=int, default=64000)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = EmulatorServer(
        args.host,
        args.port,
        min_cache_tokens=args.min_cache_tokens,
        max_output_tokens=args.max_output_tokens,
    )
    logger.warning("LLM EMULATOR: every reply is CANNED, deterministic fake text. No real model is called.")
    # What the imports built (~350,000 objects) is never garbage: frozen, full collections skip it
    # (each took ~50 ms, a pause that showed in the p99 of every benchmark against the emulator).
    gc.collect()
    gc.freeze()
    try:
        server.serve_forever(on_listening=_announce)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        parser.exit(1, f"{args.host}:{args.port} is already in use: set EMULATOR_PORT to a free port.\n")


def _announce(url: str) -> None:
    # Printed (not logged) and flushed: scripts and tests parse this line.
    print(f"LLM emulator listening on {url}", flush=True)


if __name__ == "__main__":
    main()
