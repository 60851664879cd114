#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Run from a checkout, it is a development tool: DEBUG defaults to 1 unless the environment or
the `.env` file sets it (the Docker image and docker-compose.yml set DEBUG=0). The web server
(`aiassistant.asgi`) and the Celery processes keep the production default, DEBUG off.
"""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")
    if "DEBUG" not in os.environ and not _dotenv_sets_debug(Path(__file__).resolve().parent / ".env"):
        os.environ["DEBUG"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


def _dotenv_sets_debug(path: Path) -> bool:
    if not path.is_file():
        return False
    return any(
        line.strip().removeprefix("export ").split("=", 1)[0].strip() == "DEBUG"
        for line in path.read_text().splitlines()
    )


if __name__ == "__main__":
    main()
