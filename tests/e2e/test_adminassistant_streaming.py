"""The admin assistant answers over the shared streaming engine, end to end (uvicorn, the
assistant's own database alias, the emulator replaying scripted replies): the seed's
acceptance scenarios, the correction turn, the friendly failures and their log rows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model

from adminassistant.eval import fixtures
from adminassistant.models import AssistantSettings, Chat, Message, QueryLog
from adminassistant.services import config
from tests.e2e.live import make_user
from tests.helpers import assert_error
from tests.sse import assert_stream_contract, headers, stream_events

# The generated queries run on the assistant's own alias (a second connection to the database).
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "adminassistant"])

API = "/ai-assistant/api"

TODAY_CODE = "result = AppUser.objects.filter(date_joined__date=today()).count()"


def reply(explanation: str, code: str) -> dict[str, Any]:
    return {"text": f"{explanation}\n\n```python\n{code}\n```\n"}


@pytest.fixture
def staff(live) -> tuple[Any, str]:
    user, token = make_user("staff@example.com")
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    fixtures.seed()
    return user, token


def new_chat(live, token: str) -> str:
    response = httpx.post(f"{live.url}{API}/chats", json={}, headers=headers(token))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def ask(live, token: str, chat_id: str, question: str) -> list[Any]:
    events = stream_events(live, "POST", f"{API}/chats/{chat_id}/message", token, json_body={"question": question})
    assert_stream_contract(events)
    return events


def result_of(events: list[Any]) -> dict[str, Any]:
    results = [e.data for e in events if e.event == "result"]
    assert len(results) == 1
    assert events[-1].event == "message_stop"
    assert [e.event for e in events].index("result") > max(
        i for i, e in enumerate(events) if e.event in ("delta", "message_start")
    )
    return results[0]


def test_registrations_today_streams_the_explanation_then_the_number(live, staff, emulator):
    _, token = staff
    emulator.add_rule(
        {"match": "registrations today", "response": reply("I count users who joined today.", TODAY_CODE)}
    )
    chat_id = new_chat(live, token)

    events = ask(live, token, chat_id, "How many registrations today?")

    explanation = "".join(e.data["text"] for e in events if e.event == "delta")
    assert explanation == "I count users who joined today."
    result = result_of(events)
    assert result["kind"] == "number"
    assert result["rows"] == [[fixtures.TODAY + 1]]  # and the asking staff user, registered now
    assert result["code"] == TODAY_CODE
    assert result["error"] is None
    answer = Message.objects.get(role="assistant")
    assert (answer.status, answer.content, answer.code) == ("complete", explanation, TODAY_CODE)
    log = QueryLog.objects.get()
    assert (log.question, log.code, log.error_code, log.row_count, log.attempts) == (
        "How many registrations today?",
        TODAY_CODE,
        "",
        1,
        1,
    )
    assert log.model_id and log.input_tokens > 0
    # Data stays home: no earlier result rows in the prompt, only the question and the manifest.
    prompt = str(emulator.requests()[0])
    assert "AppUser(appauth.AppUser)" in prompt and "password" not in prompt


def test_six_digit_usernames_give_the_count_and_up_to_100_ids(live, staff, emulator):
    _, token = staff
    code = 'result = AppUser.objects.filter(username__regex=r"^[0-9]{6}$").values_list("id", flat=True)'
    emulator.add_rule({"match": "6-digit", "response": reply("These users have six-digit usernames.", code)})
    result = result_of(ask(live, token, new_chat(live, token), "Users with a 6-digit username?"))
    assert result["kind"] == "table"
    assert result["total"] == fixtures.SIX_DIGIT
    assert len(result["rows"]) == fixtures.SIX_DIGIT <= 100


def test_a_large_result_is_truncated_and_the_csv_has_the_capped_rows(live, staff, emulator):
    _, token = staff
    code = 'result = LLMCall.objects.order_by("created_at").values("purpose", "model_id", "input_tokens")'
    emulator.add_rule({"match": "every model call", "response": reply("All model calls.", code)})
    events = ask(live, token, new_chat(live, token), "List every model call")
    result = result_of(events)
    # The ledger also holds this question's own model call, recorded before its code ran.
    assert (result["row_count"], result["truncated"], result["total"]) == (100, True, fixtures.LLM_CALLS + 1)
    answer_id = events[0].data["assistant_message_id"]
    csv = httpx.get(f"{live.url}{API}/results/{answer_id}/csv", headers=headers(token))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == "purpose,model_id,input_tokens" and len(lines) == 101


def test_refused_code_goes_back_to_the_model_once_and_the_correction_answers(live, staff, emulator):
    _, token = staff
    emulator.add_rule(
        {
            "match": "registrations today",
            "response": reply("Counting.", "AppUser.objects.update(is_staff=True)\nresult = 1"),
        }
    )
    emulator.add_rule({"match": "Running that code failed", "response": reply("Corrected.", TODAY_CODE)})
    events = ask(live, token, new_chat(live, token), "How many registrations today?")
    result = result_of(events)
    assert result["kind"] == "number" and result["code"] == TODAY_CODE
    corrections = [r for r in emulator.requests() if "Running that code failed" in str(r["body"])]
    assert len(corrections) == 1 and "write_method" in str(corrections[0]["body"])
    log = QueryLog.objects.get()
    assert (log.attempts, log.error_code, log.code) == (2, "", TODAY_CODE)


def test_invalid_code_twice_ends_in_a_friendly_message_and_a_log_row(live, staff, emulator):
    _, token = staff
    emulator.add_rule(
        {"match": "delete everything", "response": reply("Sure.", "result = AppUser.objects.all().delete()")}
    )
    result = result_of(ask(live, token, new_chat(live, token), "Please delete everything"))
    assert result["kind"] == "error"
    assert result["error"]["code"] == "refused"
    assert "safety check" in result["error"]["message"]
    log = QueryLog.objects.get()
    assert (log.attempts, log.error_code, log.refusal_rule) == (2, "refused", "write_method")
    assert Message.objects.get(role="assistant").status == "error"
    assert get_user_model().objects.count() == fixtures.USERS + 1  # nothing was deleted


def test_no_api_key_is_a_friendly_message_and_a_log_row(live, staff, emulator):
    _, token = staff
    row = config.settings_get()
    row.provider = AssistantSettings.Provider.ANTHROPIC
    row.save()
    result = result_of(ask(live, token, new_chat(live, token), "How many users?"))
    assert result["error"]["code"] == "not_configured"
    assert "API key is missing" in result["error"]["message"]
    assert QueryLog.objects.get().error_code == "not_configured"
    assert emulator.requests() == []


def test_a_model_timeout_is_a_friendly_message_and_a_log_row(live, staff, emulator):
    _, token = staff
    row = config.settings_get()
    row.timeout_seconds = 1
    row.save()  # applies to the next question, no restart
    emulator.add_rule({"match": "slow question", "first_token_ms": 4000, "response": reply("Late.", TODAY_CODE)})
    result = result_of(ask(live, token, new_chat(live, token), "A slow question"))
    assert result["error"]["code"] == "llm_timeout"
    assert QueryLog.objects.get().error_code == "llm_timeout"


def test_a_chat_gets_a_short_title_after_its_first_answer(live, staff, emulator):
    _, token = staff
    emulator.add_rule({"match": "registrations today", "response": reply("Counting.", TODAY_CODE)})
    emulator.add_rule({"match": "Give a short title", "response": {"text": "Registrations today"}})
    chat_id = new_chat(live, token)
    ask(live, token, chat_id, "How many registrations today?")
    chat = Chat.objects.get(id=chat_id)
    assert (chat.title, chat.titled) == ("Registrations today", True)
    detail = httpx.get(f"{live.url}{API}/chats/{chat_id}", headers=headers(token)).json()
    assert [m["role"] for m in detail["messages"]["results"]] == ["user", "assistant"]
    assert detail["messages"]["results"][1]["result"]["rows"] == [[fixtures.TODAY + 1]]


def test_non_staff_and_foreign_chats_are_refused_before_streaming(live, staff, emulator):
    _, token = staff
    chat_id = new_chat(live, token)
    _, other_token = make_user("member@example.com")
    body = {"question": "How many users?"}
    response = httpx.post(f"{live.url}{API}/chats/{chat_id}/message", json=body, headers=headers(other_token))
    assert_error(response, 403, "not_staff")
    other, other_token = make_user("colleague@example.com")
    get_user_model().objects.filter(pk=other.pk).update(is_staff=True)
    response = httpx.post(f"{live.url}{API}/chats/{chat_id}/message", json=body, headers=headers(other_token))
    assert_error(response, 404, "chat_not_found")
    assert emulator.requests() == []


def test_with_send_aggregates_a_number_gets_a_one_line_summary_and_rows_never_go_out(live, staff, emulator):
    _, token = staff
    row = config.settings_get()
    row.send_aggregates = True
    row.save()
    emulator.add_rule({"match": "registrations today", "response": reply("Counting.", TODAY_CODE)})
    emulator.add_rule({"match": "one short sentence", "response": {"text": "Six people registered today."}})
    events = ask(live, token, new_chat(live, token), "How many registrations today?")
    assert "".join(e.data["text"] for e in events if e.event == "delta") == "Counting.\n\nSix people registered today."
    assert result_of(events)["rows"] == [[fixtures.TODAY + 1]]
    summary_request = [r for r in emulator.requests() if "one short sentence" in str(r["body"])]
    assert f"result = {fixtures.TODAY + 1}" in str(summary_request[0]["body"])

    # A table is rows: it is never sent, so there is no summary.
    code = 'result = AppUser.objects.values("username")[:3]'
    emulator.add_rule({"match": "three usernames", "response": reply("Three.", code)})
    events = ask(live, token, new_chat(live, token), "Show three usernames")
    assert "".join(e.data["text"] for e in events if e.event == "delta") == "Three."
    assert len([r for r in emulator.requests() if "one short sentence" in str(r["body"])]) == 1


def test_bad_questions_are_refused_in_the_error_shape_before_streaming(live, staff, emulator, settings):
    _, token = staff
    chat_id = new_chat(live, token)
    url = f"{live.url}{API}/chats/{chat_id}/message"
    settings.ADMIN_ASSISTANT_MAX_QUESTION_CHARS = 20
    cases = [
        (httpx.post(url, json={"question": "   "}, headers=headers(token)), 400, "invalid"),
        (httpx.post(url, json={}, headers=headers(token)), 400, "invalid"),
        (httpx.post(url, json={"question": "x" * 21}, headers=headers(token)), 400, "question_too_long"),
        (httpx.post(url, content=b"question", headers=headers(token)), 415, "unsupported_media_type"),
        (httpx.get(url, headers=headers(token)), 405, "method_not_allowed"),
    ]
    for response, status, code in cases:
        assert_error(response, status, code)
    assert emulator.requests() == [] and not Message.objects.exists()


def test_questions_over_the_rate_get_429_with_retry_after(live, staff, emulator, settings):
    _, token = staff
    settings.ADMIN_ASSISTANT_QUESTION_RATE = "1/m"
    emulator.add_rule({"match": "registrations today", "response": reply("Counting.", TODAY_CODE)})
    chat_id = new_chat(live, token)
    ask(live, token, chat_id, "How many registrations today?")
    response = httpx.post(
        f"{live.url}{API}/chats/{chat_id}/message", json={"question": "And yesterday?"}, headers=headers(token)
    )
    assert_error(response, 429, "too_many_questions")
    assert int(response.headers["Retry-After"]) >= 1


def test_the_same_idempotency_key_streams_the_same_answer_once(live, staff, emulator):
    _, token = staff
    emulator.add_rule({"match": "registrations today", "response": reply("Counting.", TODAY_CODE)})
    chat_id = new_chat(live, token)
    path, body = f"{API}/chats/{chat_id}/message", {"question": "How many registrations today?"}
    first = stream_events(live, "POST", path, token, json_body=body, extra_headers={"Idempotency-Key": "k-1"})
    again = stream_events(live, "POST", path, token, json_body=body, extra_headers={"Idempotency-Key": "k-1"})
    assert first[0].data["assistant_message_id"] == again[0].data["assistant_message_id"]
    assert result_of(again) == result_of(first)
    assert Message.objects.filter(role="assistant").count() == 1
    assert len([r for r in emulator.requests() if r["operation"] == "converse-stream"]) == 1


def test_a_database_error_goes_back_to_the_model_once(live, staff, emulator):
    _, token = staff
    bad = 'result = AppUser.objects.filter(username__regex="(").count()'  # the database rejects the pattern
    emulator.add_rule({"match": "registrations today", "response": reply("Counting.", bad)})
    emulator.add_rule({"match": "Running that code failed", "response": reply("Corrected.", TODAY_CODE)})
    result = result_of(ask(live, token, new_chat(live, token), "How many registrations today?"))
    assert result["kind"] == "number" and result["code"] == TODAY_CODE
    [correction] = [r for r in emulator.requests() if "Running that code failed" in str(r["body"])]
    assert "regular expression" in str(correction["body"])
    assert QueryLog.objects.get().attempts == 2
