"""Production (DEBUG=0) serves its own static files: the admin is styled and Swagger UI loads.

A real process with the production settings: `collectstatic` into a fresh STATIC_ROOT, then the
ASGI app under uvicorn. The pages' asset links must carry content hashes and answer 200 with
far-future caching and a compressed body.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("production")
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "0",
        "SECRET_KEY": "s" * 50,
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "STATIC_ROOT": str(root / "static"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Production refuses to start without a real mail transport (core.E001); nothing is sent here.
        "EMAIL_URL": "smtp://127.0.0.1:1",
    }
    for command in (["collectstatic", "--noinput"], ["migrate", "--noinput"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "aiassistant.asgi:application", "--port", str(port), "--lifespan", "off"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"the server did not start: {server.communicate()[1]!r}") from None
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=20)


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    response = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=20)
    return response.status_code, dict(response.headers), response.content


def asset_links(html: bytes) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html.decode())


def assert_served_hashed_and_compressed(url: str, asset: str) -> None:
    assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", asset), f"not a hashed name: {asset}"
    status, headers, _ = get(url + asset)
    assert status == 200, asset
    assert "immutable" in headers["cache-control"] or "max-age=315360000" in headers["cache-control"]
    assert headers.get("content-encoding") == "gzip", asset


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "suffixes", "expected"),
    [
        ("/admin/login/", (".css",), "/admin/css/base."),  # the admin is styled
        ("/api/docs/", (".css", ".js"), "swagger-ui-bundle."),  # Swagger UI loads
    ],
)
def test_pages_load_their_assets_with_debug_off(production_server, page, suffixes, expected):
    status, _, html = get(production_server + page)

    assert status == 200
    assets = [link for link in asset_links(html) if link.endswith(suffixes)]
    assert any(expected in link for link in assets)
    for asset in assets:
        assert_served_hashed_and_compressed(production_server, asset)


@pytest.mark.slow
def test_an_unknown_static_file_is_a_404_not_the_app(production_server):
    status, _, _ = get(production_server + "/static/admin/css/nope.css")

    assert status == 404
