"""The assistant's drawer in a real admin page (Playwright driving Chromium): open it from the
header, ask a scripted question (the emulator replies with gold code), see the explanation,
the table with "Show more", the CSV link and the code; keyboard and the dark theme work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from adminassistant.eval import fixtures
from adminassistant.services import config
from tests.e2e.browser import requires_chromium
from tests.factories import UserFactory

pytestmark = [
    requires_chromium,
    pytest.mark.django_db(transaction=True, databases=["default", "adminassistant"]),
]
SECRET = "sk-browser-test-key-1234WXYZ"
GOLD = (
    'result = AppUser.objects.filter(username__regex=r"^[0-9]{6}$")'
    '.values("username", "date_joined").order_by("username")'
)


def _serve_static(route: Any) -> None:
    """The test server has no static handler: answer /static/ from the finders, as collectstatic would."""
    path = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
    found = finders.find(path)
    if found:
        route.fulfill(path=found)
    else:
        route.fulfill(status=404, body="")


@pytest.fixture
def admin_page(browser: Any, live: Any) -> Iterator[Any]:
    user = UserFactory(email="staff@example.com", username="staff", is_staff=True, is_superuser=True)
    fixtures.seed()
    row = config.settings_get()
    config.settings_set_api_key(row=row, api_key=SECRET)
    row.save()
    client = Client()
    client.force_login(user)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live.url}])
    context.route(f"{live.url}/static/**", _serve_static)
    page = context.new_page()
    yield page
    context.close()


def test_the_drawer_asks_and_shows_the_table_the_csv_link_and_the_code(admin_page, live, emulator):
    page = admin_page
    emulator.add_rule(
        {
            "match": "six-digit",
            "response": {"text": f"These are the users with six-digit usernames.\n\n```python\n{GOLD}\n```"},
        }
    )
    page.goto(f"{live.url}/admin/")
    assert SECRET not in page.content()
    opener = page.locator("#aa-open")
    assert opener.get_attribute("aria-expanded") == "false"
    opener.focus()
    page.keyboard.press("Enter")  # by keyboard
    drawer = page.locator("#aa-drawer")
    drawer.wait_for(state="visible")
    assert page.evaluate("document.activeElement.classList.contains('aa-input')")

    page.keyboard.type("Which users have six-digit usernames?")
    page.keyboard.press("Enter")

    table = drawer.locator(".aa-table table")
    table.wait_for(timeout=20_000)
    assert drawer.locator(".aa-text").inner_text() == "These are the users with six-digit usernames."
    assert table.locator("th").all_text_contents() == ["username", "date_joined"]
    assert table.locator("tbody tr").count() == 10
    drawer.locator(".aa-more").click()
    assert table.locator("tbody tr").count() == fixtures.SIX_DIGIT
    assert drawer.locator(".aa-more").is_hidden()
    csv = drawer.locator(".aa-csv")
    href = csv.get_attribute("href")
    assert href.startswith("/ai-assistant/api/results/") and href.endswith("/csv")
    downloaded = page.evaluate("(url) => fetch(url).then(r => r.text())", href)
    assert downloaded.splitlines()[0] == "username,date_joined"
    assert len(downloaded.strip().splitlines()) == fixtures.SIX_DIGIT + 1
    code = drawer.locator(".aa-code")
    assert code.get_attribute("open") is None
    code.locator("summary").click()
    assert GOLD in code.locator("code").inner_text()
    drawer.locator(".aa-chats .aa-chat").first.wait_for()
    assert SECRET not in page.content()

    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "aa-open"

    # History loads when a chat is opened again.
    page.reload()
    page.locator("#aa-open").click()
    page.locator("#aa-drawer .aa-chat").first.click()
    page.locator("#aa-drawer .aa-table").wait_for()
    assert page.locator("#aa-drawer .aa-user").inner_text() == "Which users have six-digit usernames?"


def test_the_drawer_follows_the_dark_theme(admin_page, live):
    page = admin_page
    page.goto(f"{live.url}/admin/")
    page.locator("#aa-open").click()
    drawer = page.locator("#aa-drawer")
    drawer.wait_for(state="visible")
    light = drawer.evaluate("node => getComputedStyle(node).backgroundColor")
    page.evaluate("document.documentElement.dataset.theme = 'dark'")
    dark = drawer.evaluate("node => getComputedStyle(node).backgroundColor")
    assert light != dark
    assert drawer.locator(".aa-empty").is_visible()


def test_a_grouped_result_draws_an_inline_svg_bar_chart(admin_page, live, emulator):
    page = admin_page
    code = 'result = LLMCall.objects.values("purpose").annotate(calls=Count("id")).order_by("purpose")'
    emulator.add_rule({"match": "per purpose", "response": {"text": f"Calls by purpose.\n\n```python\n{code}\n```"}})
    page.goto(f"{live.url}/admin/")
    page.locator("#aa-open").click()
    page.locator("#aa-drawer .aa-input").fill("How many model calls per purpose?")
    page.locator("#aa-drawer .aa-send").click()
    chart = page.locator("#aa-drawer svg.aa-chart")
    chart.wait_for(timeout=20_000)
    # chat, memory, prototype, title, and this question's own call (purpose adminassistant)
    assert chart.locator("rect.aa-bar").count() == 5
    assert page.locator("#aa-drawer .aa-table tbody tr").count() == 5
    assert page.locator("#aa-drawer .aa-csv").is_visible()
