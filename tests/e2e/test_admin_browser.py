"""Every admin page an operator uses, in headless Chromium at 1400 px: it loads, and no column is cut off.

Screenshots of each page are written to $TEST_ARTIFACTS_DIR/admin (default `.test-artifacts/`
in the checkout) for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from backend.llm.models import LLMCall
from chat.models import Message
from prototypes.models import DesignProject
from tests.chat.factories import ChatFactory, TokenUsageFactory, turn
from tests.e2e.browser import CHROMIUM, requires_chromium
from tests.e2e.live import LiveServer, serve_in_thread
from tests.factories import UserFactory

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = [
    requires_chromium,
    pytest.mark.slow,
]

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / ".test-artifacts"))
WIDTH = 1400
PASSWORD = "an-admin-password-for-tests"
PAGES = {
    "index": "/admin/",
    "users": "/admin/appauth/appuser/",
    "chats": "/admin/chat/chat/",
    "messages": "/admin/chat/message/",
    "message-detail": "/admin/chat/message/{message}/change/",
    "token-usage": "/admin/chat/tokenusage/",
    "llm-calls": "/admin/llm/llmcall/",
    "llm-call-detail": "/admin/llm/llmcall/{call}/change/",
    "spend": "/admin/llm/llmcall/spend/",
    "prototype-versions": "/admin/prototypes/prototypeversion/",
}


@pytest.fixture(scope="module")
def styled_server() -> Iterator[LiveServer]:
    """The app with static files found in the apps (no collectstatic), so the admin is styled."""
    from django.core.asgi import get_asgi_application

    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        live, stop = serve_in_thread(get_asgi_application(), owns_stream_registry=False)
    yield live
    stop()


@pytest.fixture
def business(transactional_db: None) -> dict[str, Any]:
    """Rows as an operator sees them: long titles, long model ids, costs."""
    staff = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    customer = UserFactory(email="a.customer.with.a.long.address@example-company.com")
    chat = ChatFactory(user=customer, title="Planning the migration of the billing service to the new cluster")
    pair = turn(chat, user_text="How should we migrate the billing service? " * 8, assistant_text="In stages. " * 30)
    for index in range(3):
        LLMCall.objects.create(
            user=customer,
            purpose="chat",
            reference=f"chat.message:{pair.id}",
            alias="chat-default",
            model_id="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            status="cancelled" if index else "ok",
            input_tokens=123_456,
            output_tokens=7_890,
            cache_read_tokens=100_000,
            latency_ms=4321,
            cost="0.123456",
        )
    TokenUsageFactory(user=customer, chat=chat, model_id="us.anthropic.claude-haiku-4-5-20251001-v1:0")
    TokenUsageFactory(user=customer, chat=chat, day=timezone.localdate() - timedelta(days=40))
    DesignProject.objects.create(user=customer, name="Shop")
    return {
        "message": Message.objects.filter(pair=pair, role="user").get().id,
        "call": LLMCall.objects.first().id,  # type: ignore[union-attr]
    }


def test_every_admin_page_loads_and_fits_1400_px(styled_server, business):
    ARTIFACTS.joinpath("admin").mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(f"{styled_server.url}/admin/login/")
        page.fill("#id_username", "operator@example.com")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{styled_server.url}/admin/")
        for name, path in PAGES.items():
            response = page.goto(styled_server.url + path.format(**business))
            assert response is not None
            page.screenshot(path=str(ARTIFACTS / "admin" / f"{name}.png"), full_page=True)
            if response.status != 200:
                problems.append(f"{name}: HTTP {response.status}")
                continue
            styled = page.evaluate("getComputedStyle(document.body).fontFamily")
            overflow = page.evaluate(
                """() => {
                    const page = document.documentElement.scrollWidth - window.innerWidth;
                    const results = document.querySelector('.results');
                    const table = results ? results.scrollWidth - results.clientWidth : 0;
                    return Math.max(page, table);
                }"""
            )
            if "serif" not in styled and "sans" not in styled.lower() and "system" not in styled.lower():
                problems.append(f"{name}: unstyled ({styled})")
            if overflow > 0:
                problems.append(f"{name}: {overflow}px wider than the window")
        browser.close()

    assert not problems, problems
