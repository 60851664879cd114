"""The help widget and the ask page in a real browser (Playwright driving Debian's Chromium).

What a visitor notices: nothing stored or requested before they interact, answers that appear
token by token and are announced once, one question at a time, limits and expiry explained,
feedback, their own export and erasure, German and French, and no serious accessibility defect
(axe-core, vendored from the npm registry into tests/e2e/fixtures/).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from sitehelp.models import HelpFeedback, HelpMessage, HelpSession
from tests.e2e.browser import requires_chromium

pytestmark = requires_chromium

AXE = Path(__file__).parent / "fixtures" / "axe-core-4.14.1" / "axe.min.js"
STORAGE = "() => ({local: localStorage.length, session: sessionStorage.length})"
# Records, inside the widget, each length the streaming answer had and each announcement made.
OBSERVE = """() => {
  const root = document.querySelector("site-help").shadowRoot;
  window.lengths = []; window.announcements = [];
  new MutationObserver(() => {
    const answers = root.querySelectorAll(".msg.assistant");
    if (answers.length) window.lengths.push(answers[answers.length - 1].lastChild.textContent.length);
  }).observe(root.querySelector(".log"), {subtree: true, childList: true, characterData: true});
  const status = root.querySelector("[role=status]");
  new MutationObserver(() => window.announcements.push(status.textContent))
    .observe(status, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def context(browser):
    context = browser.new_context(accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


def open_widget(page: Any, live: Any, query: str = "") -> None:
    page.goto(f"{live.url}/ai/widget-demo/{query}")
    page.wait_for_function("customElements.get('site-help') !== undefined")
    page.locator(".launcher").click()
    page.wait_for_function("document.querySelector('site-help').catalogue !== null")


def send(page: Any, text: str) -> None:
    page.locator("#sh-input").fill(text)
    page.locator("#sh-input").press("Enter")


def answered(page: Any, count: int = 1) -> None:
    page.locator('.msg.assistant[aria-busy="false"]').nth(count - 1).wait_for(timeout=15000)


def axe_serious(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


# --- The widget ------------------------------------------------------------------------------------------


def test_the_widget_stores_and_requests_nothing_until_the_visitor_interacts(live, page, context):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url.removeprefix(live.url)))

    page.goto(f"{live.url}/ai/widget-demo/")
    page.wait_for_function("customElements.get('site-help') !== undefined")

    assert requested == ["/ai/widget-demo/", "/static/sitehelp/widget.js"]
    assert context.cookies() == []
    assert page.evaluate(STORAGE) == {"local": 0, "session": 0}
    assert not HelpSession.objects.exists()

    page.locator(".launcher").click()
    page.wait_for_function("document.querySelector('site-help').catalogue !== null")

    assert requested[2:] == ["/api/v1/help/i18n/en/"]  # opening fetches the strings, nothing else
    assert page.evaluate(STORAGE) == {"local": 0, "session": 0}
    assert not HelpSession.objects.exists()


def test_consent_is_asked_on_first_send_and_the_answer_streams_in_and_is_announced_once(live, page, context):
    open_widget(page, live)
    page.evaluate(OBSERVE)

    send(page, "How do I reset my password? [[emu:tokens=40]] [[emu:delay_ms=30]]")

    assert page.locator(".consent").is_visible()
    assert page.locator("#sh-input").input_value().startswith("How do I reset")  # the typed text is kept
    assert not HelpSession.objects.exists()
    page.locator(".consent button.primary").click()
    answered(page)

    lengths = page.evaluate("window.lengths")
    assert len(set(lengths)) > 5  # the answer grew token by token
    answer = page.locator(".msg.assistant").last.inner_text()
    announcements = page.evaluate("window.announcements")
    assert len(announcements) == 1  # announced once, whole, not token by token
    assert answer.split(": ", 1)[1].strip()[:30] in announcements[0]
    session = HelpSession.objects.get()
    assert HelpMessage.objects.get().session == session
    assert page.evaluate(STORAGE) == {"local": 0, "session": 1}  # the token, in this tab only
    assert context.cookies() == []


def test_one_question_at_a_time(live, page):
    open_widget(page, live, "?consent=none")

    send(page, "Slow one [[emu:tokens=40]] [[emu:delay_ms=80]]")
    page.locator(".msg.assistant").wait_for()

    assert page.locator("form button[type=submit]").is_disabled()
    send(page, "Second question")
    assert page.locator(".msg.user").count() == 1
    answered(page)
    assert page.locator("form button[type=submit]").is_enabled()
    assert HelpMessage.objects.count() == 1


def test_a_rate_limit_is_shown_with_its_wait(live, page):
    open_widget(page, live, "?consent=none")

    with override_settings(HELP_RATE_MESSAGE_SESSION="1/m"):
        send(page, "First [[emu:tokens=3]]")
        answered(page)
        send(page, "Second")
        alert = page.locator("[role=alert]")
        alert.filter(has_text="seconds").wait_for()

    assert "Too many questions. Please wait" in alert.inner_text()
    assert page.locator("form button[type=submit]").is_disabled()
    assert page.locator("#sh-input").input_value() == "Second"  # kept for when the wait is over


def test_an_expired_session_is_replaced_and_the_visitor_is_told(live, page):
    open_widget(page, live, "?consent=none")
    send(page, "First [[emu:tokens=3]]")
    answered(page)
    first = HelpSession.objects.get()
    HelpSession.objects.filter(id=first.id).update(last_activity_at=timezone.now() - timedelta(hours=1))

    send(page, "Second [[emu:tokens=3]]")
    answered(page, 2)

    assert "previous conversation expired" in page.locator(".notice").first.inner_text()
    second = HelpSession.objects.exclude(id=first.id).get()
    assert HelpMessage.objects.filter(session=second).count() == 1
    stored = json.loads(page.evaluate("sessionStorage.getItem('sitehelp-session')"))
    assert stored["id"] == str(second.id)


def test_feedback_rates_an_answer_with_a_comment(live, page):
    open_widget(page, live, "?consent=none")
    send(page, "Question [[emu:tokens=3]]")
    answered(page)

    page.get_by_role("button", name="Not helpful").click()
    page.get_by_role("textbox", name="Comment (optional)").fill("It did not mention the settings page.")
    page.get_by_role("button", name="Send comment").click()
    page.locator("[role=status]").filter(has_text="Thank you").wait_for()
    page.get_by_role("button", name="Send comment").wait_for(state="hidden")

    feedback = HelpFeedback.objects.get()
    assert (feedback.rating, feedback.comment) == (-1, "It did not mention the settings page.")
    assert page.get_by_role("button", name="Not helpful").get_attribute("aria-pressed") == "true"


def test_the_visitor_downloads_and_then_deletes_their_conversation(live, page):
    open_widget(page, live, "?consent=none")
    send(page, "Where is my invoice? [[emu:tokens=3]]")
    answered(page)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my conversation").click()
    exported = json.loads(Path(download.value.path()).read_text())
    page.get_by_role("button", name="Delete my conversation").click()
    page.locator(".notice").filter(has_text="deleted").wait_for()

    assert [m["question"] for m in exported["messages"]] == ["Where is my invoice? [[emu:tokens=3]]"]
    assert not HelpSession.objects.exists()
    assert not HelpMessage.objects.exists()
    assert page.evaluate(STORAGE) == {"local": 0, "session": 0}
    assert page.locator(".msg").count() == 0


def test_a_reload_restores_the_conversation_of_this_tab(live, page):
    open_widget(page, live, "?consent=none")
    send(page, "Remember me [[emu:reply=Noted.]]")
    answered(page)

    page.reload()
    page.wait_for_function("customElements.get('site-help') !== undefined")
    page.locator(".launcher").click()
    page.locator(".msg.assistant").filter(has_text="Noted.").wait_for()

    assert page.locator(".msg.user").count() == 1
    assert page.get_by_role("button", name="Helpful", exact=True).count() == 1
    assert HelpSession.objects.count() == 1


def test_a_page_on_an_allowed_origin_uses_the_widget_across_origins(live, page):
    host_page = live.url.replace("127.0.0.1", "localhost")  # another origin, the same server
    page.goto(f"{host_page}/ai/widget-demo/?consent=none")
    page.wait_for_function("customElements.get('site-help') !== undefined")
    page.evaluate(f"document.querySelector('site-help').setAttribute('api', '{live.url}')")

    with override_settings(HELP_WIDGET_ALLOWED_ORIGINS=[host_page]):
        page.locator(".launcher").click()
        page.wait_for_function("document.querySelector('site-help').catalogue !== null")
        send(page, "Across origins [[emu:tokens=5]]")
        answered(page)

    assert HelpSession.objects.get().origin == host_page


def test_a_page_on_another_origin_gets_nothing(live, page):
    page.goto(f"{live.url.replace('127.0.0.1', 'localhost')}/ai/widget-demo/")
    page.wait_for_function("customElements.get('site-help') !== undefined")
    page.evaluate(f"document.querySelector('site-help').setAttribute('api', '{live.url}')")

    page.locator(".launcher").click()

    page.locator("[role=alert]").filter(has_text="unavailable").wait_for()
    assert not HelpSession.objects.exists()


def test_host_consent_waits_for_the_hosts_consent_tool(live, page):
    open_widget(page, live, "?consent=host")

    send(page, "Hello [[emu:tokens=3]]")
    page.locator(".notice").filter(has_text="privacy settings").wait_for()
    assert not HelpSession.objects.exists()
    page.evaluate("document.querySelector('site-help').grantConsent()")
    answered(page)

    assert HelpSession.objects.get().consent_mode == "host"


@pytest.mark.parametrize(
    ("language", "launcher", "send_label", "title"),
    [("de", "Hilfe", "Senden", "Hilfe"), ("fr", "Aide", "Envoyer", "Aide")],
)
def test_the_widget_speaks_german_and_french(live, page, emulator, language, launcher, send_label, title):
    page.goto(f"{live.url}/ai/widget-demo/?lang={language}&consent=none")
    page.wait_for_function("customElements.get('site-help') !== undefined")
    assert page.locator(".launcher").inner_text() == launcher
    open_widget(page, live, f"?lang={language}&consent=none")

    assert page.locator("form button[type=submit]").inner_text() == send_label
    assert page.locator("#sh-title").inner_text() == title
    send(page, "Bonjour [[emu:tokens=3]]")
    answered(page)
    assert HelpSession.objects.get().language == language
    assert {"de": "German", "fr": "French"}[language] in emulator.requests()[-1]["body"]["system"][0]["text"]


def test_the_open_widget_has_no_serious_accessibility_violations(live, page):
    open_widget(page, live, "?consent=none")
    send(page, "Hello [[emu:tokens=5]]")
    answered(page)

    assert axe_serious(page) == []
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.tagName") == "SITE-HELP"  # focus back on the launcher


# --- The ask page ------------------------------------------------------------------------------------------


def test_the_ask_page_stores_nothing_and_loads_only_its_own_assets(live, page, context):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url.removeprefix(live.url)))

    page.goto(f"{live.url}/ai/ask-ai/")
    page.wait_for_load_state("networkidle")

    assert requested[0] == "/ai/ask-ai/"
    assert all(path.startswith("/static/sitehelp/") for path in requested[1:])
    assert context.cookies() == []
    assert page.evaluate(STORAGE) == {"local": 0, "session": 0}
    assert not HelpMessage.objects.exists()


def test_the_ask_page_streams_the_answer_with_one_question_in_flight(live, page):
    page.goto(f"{live.url}/ai/ask-ai/")
    page.locator("#question").fill("What are the opening hours? [[emu:tokens=40]] [[emu:delay_ms=40]]")
    page.evaluate(
        """() => { window.lengths = []; const area = document.getElementById("ask-answer");
        new MutationObserver(() => window.lengths.push(area.textContent.length))
          .observe(area, {subtree: true, childList: true, characterData: true}); }"""
    )
    page.get_by_role("button", name="Ask").click()
    page.locator(".ask-answer-text[data-state=streaming]").wait_for()

    assert page.get_by_role("button", name="Ask").is_disabled()
    page.locator(".ask-answer-text[data-state=done]").wait_for(timeout=15000)
    assert len(set(page.evaluate("window.lengths"))) > 5
    assert page.get_by_role("button", name="Ask").is_enabled()
    assert page.locator("#ask-announce").inner_text() == page.locator(".ask-answer-text").inner_text()
    assert HelpMessage.objects.get().answer == ""


def test_the_ask_page_shows_errors_inline_and_with_the_wait(live, page):
    page.goto(f"{live.url}/ai/ask-ai/")
    page.locator("#question").fill("   ")
    page.get_by_role("button", name="Ask").click()
    page.locator("#question-error [data-code=question_empty]").wait_for()

    with override_settings(HELP_RATE_ASK_IP="1/m"):
        page.locator("#question").fill("One [[emu:tokens=3]]")
        page.get_by_role("button", name="Ask").click()
        page.locator(".ask-answer-text[data-state=done]").wait_for()
        page.locator("#question").fill("Two")
        page.get_by_role("button", name="Ask").click()
        error = page.locator("#ask-errors [data-code=rate_limited]")
        error.wait_for()

    assert "Please wait" in error.inner_text()
    assert any(ch.isdigit() for ch in error.inner_text())


def test_a_stream_error_is_shown_with_its_translated_message(live, page):
    page.goto(f"{live.url}/ai/ask-ai/?lang=de")
    page.locator("#question").fill("Hallo [[emu:error=AccessDeniedException]]")
    page.get_by_role("button", name="Fragen").click()

    error = page.locator("#ask-errors [data-code=auth_failed]")
    error.wait_for()
    assert "KI-Dienst" in error.inner_text()


@pytest.mark.parametrize(("language", "heading"), [("de", "Die KI fragen"), ("fr", "Demander à l'IA")])
def test_the_language_switcher_changes_the_page(live, page, language, heading):
    page.goto(f"{live.url}/ai/ask-ai/")
    page.get_by_role("navigation").get_by_role("link", name={"de": "Deutsch", "fr": "Français"}[language]).click()

    assert page.locator("h1").inner_text() == heading
    assert page.locator("html").get_attribute("lang") == language


def test_the_ask_page_has_no_serious_accessibility_violations(live, page):
    page.goto(f"{live.url}/ai/ask-ai/")
    page.locator("#question").fill("Hello [[emu:tokens=5]]")
    page.get_by_role("button", name="Ask").click()
    page.locator(".ask-answer-text[data-state=done]").wait_for()

    assert axe_serious(page) == []
