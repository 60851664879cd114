"""`manage.py serve`: the ASGI server (uvicorn + uvloop + httptools, `backend.serve`), as `make run` starts it.

When no Bedrock credentials and no BEDROCK_ENDPOINT_URL are configured, it first starts the
built-in LLM emulator on EMULATOR_PORT and points the LLM layer at it, with a loud warning
that replies are canned. Everything else (database, cache, Celery) follows settings.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("aiassistant.serve")

EMULATOR_WARNING = (
    "No Bedrock credentials configured: answers come from the built-in LLM EMULATOR at %s and are CANNED, "
    "not from Claude. To use Amazon Bedrock, set AWS_REGION and credentials (AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or AWS_BEARER_TOKEN_BEDROCK) and restart."
)


class Command(BaseCommand):
    help = "Serve the ASGI application with uvicorn (starting the LLM emulator when Bedrock is not configured)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--reload", action="store_true")

    def handle(self, *args: Any, host: str, port: int, workers: int, reload: bool, **options: Any) -> None:
        import uvicorn

        from backend.serve import install

        install()  # several workers: each listens on its own socket (backend.serve)
        if not reload:  # with --reload uvicorn's supervisor binds first and reports a clash itself
            ensure_port_is_free(host, port, "PORT")
        if not settings.BEDROCK_ENDPOINT_URL and not settings.BEDROCK_CREDENTIALS_CONFIGURED:
            from backend.llm.emulator import EmulatorServer

            emulator = EmulatorServer(host="127.0.0.1", port=settings.EMULATOR_PORT)
            try:
                emulator.start()
            except OSError as exc:
                raise CommandError(port_in_use_message("127.0.0.1", settings.EMULATOR_PORT, "EMULATOR_PORT")) from exc
            settings.BEDROCK_ENDPOINT_URL = emulator.url
            logger.warning(EMULATOR_WARNING, emulator.url)
            if workers > 1:
                logger.warning("the emulator runs in this process; serving with one worker")
                workers = 1
        uvicorn.run(
            "aiassistant.asgi:application",
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_config=None,
            proxy_headers=settings.TRUSTED_PROXY_COUNT > 0,
            timeout_graceful_shutdown=10,
        )


def port_in_use_message(host: str, port: int, variable: str) -> str:
    return f"{host}:{port} is already in use: set {variable} to a free port (e.g. {variable}={port + 1} make run)."


def ensure_port_is_free(host: str, port: int, variable: str) -> None:
    """One clear line naming the variable to change, instead of uvicorn's bind traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise CommandError(port_in_use_message(host, port, variable)) from exc
            raise
