"""A shared chat in a real browser (Debian's headless Chromium through Playwright): an anonymous
visitor reads the snapshot, switches its language, runs no script and is told not to index it;
a revoked link shows the error page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sse import headers, stream_events

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("REQUIRE_SERVICES") == "1":
    raise RuntimeError("REQUIRE_SERVICES=1 but Chromium is not installed (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop on this thread (Django's documented switch).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_an_anonymous_visitor_reads_a_shared_chat_in_the_browser(browser, live, alice, emulator):
    _, token = alice
    events = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "Tides, please"})
    answer = "".join(e.data["text"] for e in events if e.event == "delta")
    chat_id = events[0].data["chat_id"]
    with httpx.Client(base_url=live.url, timeout=30) as client:
        share = client.post("/api/v1/chat/shares/", json={"chat_id": chat_id}, headers=headers(token)).json()

    context = browser.new_context(locale="en-US")
    page = context.new_page()
    failed: list[str] = []  # resources the page asked for that did not load (the browser's favicon aside)
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico") and failed.append(r.url))
    response = page.goto(share["url"])

    assert response.status == 200
    assert response.headers["x-robots-tag"].startswith("noindex")
    assert page.locator('meta[name="robots"]').get_attribute("content").startswith("noindex")
    assert page.locator("h1").inner_text() == share["title"]
    assert "Tides, please" in page.inner_text("body")
    assert answer.strip() in page.inner_text("body")
    assert page.evaluate("document.scripts.length") == 0
    assert "alice" not in page.content()

    page.get_by_role("link", name="Deutsch").click()
    page.wait_for_load_state()
    assert "schreibgeschützte Kopie" in page.inner_text("body")
    assert page.evaluate("document.documentElement.lang") == "de"
    assert failed == []

    with httpx.Client(base_url=live.url, timeout=30) as client:
        client.delete(f"/api/v1/chat/shares/{share['id']}/", headers=headers(token))
    failed.clear()
    gone = page.goto(share["url"])
    assert gone.status == 410
    context.close()
