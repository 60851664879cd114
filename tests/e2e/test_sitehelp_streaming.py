"""Help answers stream through the shared engine, over a real server: the widget's API and the ask page."""

from __future__ import annotations

import logging
import re
import threading

import httpx
import pytest
from django.test import override_settings

from backend.llm.models import LLMCall
from sitehelp.models import HelpMessage, HelpSession
from sitehelp.views import stream_url
from tests.e2e.servers import wait_for
from tests.sse import assert_stream_contract, deltas, parse_sse

API = "/api/v1/help"


def start_session(client: httpx.Client, language: str = "en") -> dict:
    response = client.post(f"{API}/sessions/", json={"language": language})
    assert response.status_code == 201, response.text
    return response.json()


def ask(client: httpx.Client, session: dict, content: str) -> tuple[int, list, dict]:
    with client.stream(
        "POST",
        f"{API}/sessions/{session['session_id']}/messages/",
        json={"content": content},
        headers={"X-Help-Session": session["token"]},
    ) as response:
        if response.status_code != 200:
            return response.status_code, [], response.read() and response.json()
        return 200, list(parse_sse(response.iter_lines())), {}


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as http_client:
        yield http_client


def test_an_answer_streams_is_stored_and_billed_and_no_text_reaches_the_logs(client, caplog):
    session = start_session(client, "de")
    question = "Wie ändere ich meine Lieferadresse? [[emu:tokens=30]]"

    with caplog.at_level(logging.DEBUG):
        status, events, _ = ask(client, session, question)

    assert status == 200
    assert_stream_contract(events)
    start = events[0]
    assert start.event == "message_start"
    assert start.data["session_id"] == session["session_id"]
    assert events[-1].event == "message_stop"
    record = HelpMessage.objects.get(id=start.data["message_id"])
    assert record.status == "complete"
    assert record.answer == deltas(events)
    assert record.question == question
    assert record.output_tokens > 0
    call = LLMCall.objects.get(reference=f"sitehelp.helpmessage:{record.id}")
    assert (call.purpose, call.alias, call.user_id) == ("help", "help", None)
    # The engine logs the finished generation (ids, tokens, latency) just after the terminal event.
    wait_for(lambda: "generation finished" in caplog.text, timeout=5, what="the engine's log line")
    logged = caplog.text
    assert "Lieferadresse" not in logged
    assert record.answer[:20] not in logged


def test_the_answer_is_asked_for_in_the_sessions_language_with_a_short_limit(client, emulator):
    session = start_session(client, "fr")

    ask(client, session, "Comment payer ? [[emu:tokens=5]]")

    request = emulator.requests()[-1]
    assert "French" in request["body"]["system"][0]["text"]
    assert request["body"]["inferenceConfig"]["maxTokens"] == 300


def test_the_history_of_the_session_is_sent_with_the_next_question(client, emulator):
    session = start_session(client)
    ask(client, session, "First question [[emu:reply=First answer]]")

    ask(client, session, "Second question [[emu:tokens=3]]")

    messages = emulator.requests()[-1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"] == "First answer"


@pytest.mark.parametrize(
    ("directive", "code"),
    [
        ("[[emu:error=AccessDeniedException]]", "auth_failed"),
        ("[[emu:throttle]]", "throttled"),
        ("[[emu:error=ModelErrorException]]", "error"),
    ],
)
def test_model_failures_end_with_the_help_error_codes(client, directive, code):
    session = start_session(client)

    status, events, _ = ask(client, session, f"Hello {directive}")

    assert status == 200
    assert events[-1].event == "error"
    assert events[-1].data["code"] == code
    assert HelpMessage.objects.get().error_code == code


def test_an_answer_over_the_timeout_ends_with_timeout(client):
    session = start_session(client)

    with override_settings(HELP_TIMEOUT_SECONDS=0.5):
        status, events, _ = ask(client, session, "Slow [[emu:first_token_ms=3000]]")

    assert status == 200
    assert events[-1].event == "error"
    assert events[-1].data["code"] == "timeout"
    assert HelpMessage.objects.get().status == "error"


def test_a_second_message_while_one_streams_is_a_409(client, live):
    session = start_session(client)
    first_started = threading.Event()
    outcome: dict = {}

    def slow_answer() -> None:
        with (
            httpx.Client(base_url=live.url, timeout=30) as other,
            other.stream(
                "POST",
                f"{API}/sessions/{session['session_id']}/messages/",
                json={"content": "Slow [[emu:tokens=20]] [[emu:delay_ms=100]]"},
                headers={"X-Help-Session": session["token"]},
            ) as response,
        ):
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: delta"):
                    first_started.set()
                    break
            outcome["events"] = list(parse_sse(lines))

    thread = threading.Thread(target=slow_answer)
    thread.start()
    assert first_started.wait(10)

    status, _, body = ask(client, session, "Another one")
    thread.join(20)

    assert status == 409
    assert body["error"]["code"] == "turn_in_progress"
    assert HelpMessage.objects.count() == 1


def test_messages_over_the_session_rate_are_a_429_with_the_wait(client):
    session = start_session(client)

    with override_settings(HELP_RATE_MESSAGE_SESSION="2/m"):
        for _ in range(2):
            assert ask(client, session, "Hi [[emu:tokens=2]]")[0] == 200
        status, _, body = ask(client, session, "Hi again")

    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["retry_after"] >= 1


# --- The ask page ------------------------------------------------------------------------------------


def test_the_ask_page_streams_an_answer_and_keeps_neither_question_nor_answer(client):
    page = client.get("/ai/ask-ai/")
    assert page.status_code == 200
    assert "set-cookie" not in page.headers

    fragment = client.post(
        "/ai/ask-ai/",
        data={"question": "Where are the opening hours? [[emu:tokens=25]]", "lang": "en"},
        headers={
            "HX-Request": "true",
            "Origin": client.base_url.__str__().rstrip("/"),
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert fragment.status_code == 200
    url = re.search(r'data-stream-url="([^"]+)"', fragment.text).group(1).replace("&amp;", "&")
    with client.stream("GET", url) as response:
        events = list(parse_sse(response.iter_lines()))

    assert_stream_contract(events)
    assert events[-1].event == "message_stop"
    assert len(deltas(events)) > 0
    record = HelpMessage.objects.get()
    assert (record.channel, record.question, record.answer, record.session_id) == ("page", "", "", None)
    assert record.output_tokens > 0
    assert LLMCall.objects.get(reference=f"sitehelp.helpmessage:{record.id}").purpose == "help"


def test_the_ask_page_works_without_javascript(client):
    response = client.post("/ai/ask-ai/", data={"question": "Hello [[emu:reply=Welcome to the site]]", "lang": "de"})

    assert response.status_code == 200
    assert "Welcome to the site" in response.text
    assert 'lang="de"' in response.text
    assert HelpMessage.objects.get().answer == ""


def test_a_stream_url_for_another_answer_is_a_404(client):
    record = HelpMessage.objects.create(channel="page", status="complete")
    forged = stream_url(record.id).replace(str(record.id), "00000000-0000-0000-0000-000000000000", 1)

    assert client.get(forged).status_code == 404
    assert client.get(f"/ai/ask-ai/stream/{record.id}/").status_code == 404


def test_a_form_posted_from_another_site_is_refused(client):
    response = client.post(
        "/ai/ask-ai/",
        data={"question": "Hello"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 403
    assert not HelpMessage.objects.exists()


@pytest.mark.parametrize(("question", "code"), [("   ", "question_empty"), ("x" * 1001, "question_too_long")])
def test_the_ask_page_explains_empty_and_overlong_questions_inline(client, question, code):
    plain = client.post("/ai/ask-ai/", data={"question": question})
    htmx = client.post("/ai/ask-ai/", data={"question": question}, headers={"HX-Request": "true"})

    assert plain.status_code == 400
    assert f'data-code="{code}"' in plain.text
    assert htmx.status_code == 200
    assert htmx.headers["HX-Retarget"] == "#question-error"
    assert f'data-code="{code}"' in htmx.text


def test_the_ask_page_rate_limit_shows_the_wait(client):
    with override_settings(HELP_RATE_ASK_IP="1/m"):
        client.post("/ai/ask-ai/", data={"question": "One [[emu:tokens=2]]"})
        response = client.post("/ai/ask-ai/", data={"question": "Two"}, headers={"HX-Request": "true"})

    assert response.headers["HX-Retarget"] == "#ask-errors"
    assert 'data-code="rate_limited"' in response.text
    assert re.search(r"wait \d+ seconds", response.text)


def test_the_ask_page_limits_each_browser_session_from_its_first_question_on(live):
    with (
        override_settings(HELP_RATE_ASK_SESSION="1/m"),
        httpx.Client(base_url=live.url, timeout=30) as first,
        httpx.Client(base_url=live.url, timeout=30) as second,
    ):
        asked = first.post("/ai/ask-ai/", data={"question": "One [[emu:tokens=2]]"})
        session = asked.cookies["sessionid"]  # Secure outside DEBUG: sent by hand over plain HTTP
        again = first.post("/ai/ask-ai/", data={"question": "Two"}, headers={"Cookie": f"sessionid={session}"})
        other = second.post("/ai/ask-ai/", data={"question": "Three [[emu:tokens=2]]"})

    assert asked.status_code == 200
    assert again.status_code == 429
    assert 'data-code="rate_limited"' in again.text
    assert other.status_code == 200


def test_the_ask_page_says_when_no_provider_is_configured(client):
    with override_settings(BEDROCK_ENDPOINT_URL=None, BEDROCK_CREDENTIALS_CONFIGURED=False):
        response = client.post("/ai/ask-ai/", data={"question": "Hello", "lang": "fr"})

    assert response.status_code == 503
    assert 'data-code="no_provider"' in response.text
    assert "pas encore configurée" in response.text


def test_sessions_survive_nothing_but_their_token(client):
    session = start_session(client)

    listed = client.get(f"{API}/sessions/{session['session_id']}/messages/")

    assert listed.status_code == 401
    assert HelpSession.objects.filter(id=session["session_id"]).exists()
