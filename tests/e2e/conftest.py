"""End-to-end fixtures: the real ASGI application served by uvicorn on a loopback port (tests/e2e/live.py).

Streaming, disconnects and resumption only behave as in production through a real server, so
these tests talk HTTP to uvicorn (in a thread, with its own event loop) and the LLM layer talks
HTTP to the emulator. The database is shared through real commits (transactional tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import chromium
from tests.e2e.live import LiveServer, make_user, wait_for_generations_to_end


@pytest.fixture
def live(live_server_asgi: LiveServer, transactional_db: None, emulator: Any) -> Iterator[LiveServer]:
    yield live_server_asgi
    wait_for_generations_to_end()  # before transactional_db's teardown flushes the tables


@pytest.fixture
def alice() -> tuple[Any, str]:
    return make_user("alice@example.com")


@pytest.fixture
def bob() -> tuple[Any, str]:
    return make_user("bob@example.com")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (tests/e2e/browser.py)."""
    with chromium() as running:
        yield running
