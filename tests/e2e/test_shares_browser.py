"""A shared chat in a real browser (Debian's headless Chromium through Playwright): an anonymous
visitor reads the snapshot, switches its language, runs no script and is told not to index it;
a revoked link shows the error page.
"""

from __future__ import annotations

import httpx

from tests.e2e.browser import requires_chromium
from tests.sse import headers, stream_events

pytestmark = requires_chromium


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
