"""Monthly budgets over HTTP: an answer that crosses the limit completes, the next turn is refused.

The spend is the LLM-call ledger of the month; earlier spend is seeded as ledger rows, so the
figures do not depend on how many tokens the emulator's answers take.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from backend.llm.models import LLMCall, UserBudget
from chat.models import Message
from prototypes.models import DesignProject
from tests.sse import assert_stream_contract, headers, stream_events


def _spent_before(user, tokens: int, cost: str = "0") -> None:
    LLMCall.objects.create(
        user=user, purpose="chat", alias="chat-default", model_id="seeded", input_tokens=tokens, cost=Decimal(cost)
    )


def _next_month_start() -> str:
    now = timezone.now().astimezone(UTC)
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC).isoformat()


def test_the_turn_that_crosses_the_limit_completes_and_the_next_one_is_refused(live, alice, emulator):
    user, token = alice
    UserBudget.objects.create(user=user, monthly_token_limit=10_000)
    _spent_before(user, 9_990)  # 99.9 %: admitted, the answer takes the user over the limit

    events = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "[[emu:tokens=300]] long answer"}
    )

    assert_stream_contract(events)
    assert events[-1].event == "message_stop"  # the running answer is never cut
    assert "budget_warning" not in [e.event for e in events]  # the user was past 80 % before this answer
    message = Message.objects.get(id=events[0].data["assistant_message_id"])
    assert message.status == Message.Status.COMPLETE and message.output_tokens >= 300
    chat_id = events[0].data["chat_id"]
    calls_before = LLMCall.objects.filter(purpose="chat").count()
    requests_before = len(emulator.requests())

    with httpx.Client(base_url=live.url, timeout=30) as client:
        refused = client.post(
            "/api/v1/chat/messages/", json={"content": "one more", "chat_id": chat_id}, headers=headers(token)
        )
        usage = client.get("/api/v1/chat/usage/", headers=headers(token))

    assert refused.status_code == 402
    assert refused.headers["content-type"].startswith("application/json")
    error = refused.json()["error"]
    assert error["code"] == "budget_exhausted"
    assert error["details"]["reset_at"] == _next_month_start()
    assert error["details"]["limit_tokens"] == 10_000
    assert error["details"]["spent_tokens"] > 10_000
    # Refused before any upstream call: no new ledger row, nothing reached the model, no turn written.
    assert LLMCall.objects.filter(purpose="chat").count() == calls_before
    assert len(emulator.requests()) == requests_before
    assert Message.objects.filter(pair__chat_id=chat_id).count() == 2
    budget = usage.json()["budget"]
    assert budget["limit_tokens"] == 10_000 and budget["spent_tokens"] == error["details"]["spent_tokens"]
    assert (budget["warning"], budget["exhausted"]) == (True, True)
    assert budget["resets_at"].startswith(_next_month_start()[:10])


def test_an_answer_that_passes_80_percent_warns_once_before_its_terminal_event(live, alice, emulator):
    user, token = alice
    UserBudget.objects.create(user=user, monthly_token_limit=100_000)
    _spent_before(user, 79_990)

    events = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "[[emu:tokens=50]] warn me"}
    )

    assert_stream_contract(events)
    names = [e.event for e in events]
    assert names.count("budget_warning") == 1
    assert names[-2:] == ["budget_warning", "message_stop"]
    warning = events[-2].data
    message = Message.objects.get(id=events[0].data["assistant_message_id"])
    answer_tokens = sum(message.usage_dict().values())
    assert warning["spent_tokens"] == 79_990 + answer_tokens  # the ledger of the month, this answer included
    assert warning["limit_tokens"] == 100_000 and 80 <= warning["percent"] < 100
    assert warning["resets_at"] == _next_month_start()

    # Still under the limit: the next turn is answered, without a second warning.
    again = stream_events(
        live,
        "POST",
        "/api/v1/chat/messages/",
        token,
        json_body={"content": "[[emu:tokens=5]] again", "chat_id": events[0].data["chat_id"]},
    )
    assert again[-1].event == "message_stop"
    assert "budget_warning" not in [e.event for e in again]


def test_the_warning_uses_the_limits_admission_read_without_reading_them_again(live, alice, emulator, monkeypatch):
    from backend.llm import budget

    user, token = alice
    UserBudget.objects.create(user=user, monthly_token_limit=100_000)
    _spent_before(user, 79_990)
    reads: list[object] = []
    real = budget.budget_limits
    monkeypatch.setattr(budget, "budget_limits", lambda user_id: reads.append(user_id) or real(user_id))

    events = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "[[emu:tokens=50]] warn me"}
    )

    assert [e.event for e in events][-2:] == ["budget_warning", "message_stop"]
    assert events[-2].data["limit_tokens"] == 100_000
    assert reads == []  # admission read them with its running count, and nothing read them again


def test_a_limit_written_behind_the_cache_s_back_refuses_the_next_turn_at_once(live, alice, emulator):
    """Admission reads the limits from the table in its running-answers count, not from the cache:
    a limit written by another process, a script or SQL (no `budget_forget`) applies at once."""
    from backend.llm import budget

    user, token = alice
    _spent_before(user, 5_000)
    assert budget.budget_limits(user.pk).unlimited  # cached: no override, no default
    UserBudget.objects.bulk_create([UserBudget(user=user, monthly_token_limit=1_000)])  # no signal, no forget

    with httpx.Client(base_url=live.url, timeout=30) as client:
        refused = client.post("/api/v1/chat/messages/", json={"content": "hi"}, headers=headers(token))

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["details"]["limit_tokens"] == 1_000
    assert emulator.requests() == []


def test_a_cost_limit_from_settings_refuses_chat_and_prototypes(live, alice, bob, emulator, settings):
    settings.USER_MONTHLY_COST_BUDGET_USD = 1.5
    user, token = alice
    _spent_before(user, 10, cost="1.50")
    project = DesignProject.objects.create(user=user, name="Site")
    other, other_token = bob
    UserBudget.objects.create(user=other, monthly_cost_limit_usd=Decimal(0))  # 0: unlimited for bob
    _spent_before(other, 10, cost="7.00")

    with httpx.Client(base_url=live.url, timeout=30) as client:
        chat = client.post("/api/v1/chat/messages/", json={"content": "hi"}, headers=headers(token))
        prototype = client.post(
            "/api/v1/prototypes/generate/",
            json={"design_project_id": str(project.id), "prompt": "a landing page"},
            headers=headers(token),
        )

    for response in (chat, prototype):
        assert response.status_code == 402, response.text
        details = response.json()["error"]["details"]
        assert (details["limit_usd"], details["spent_usd"], details["limit_tokens"]) == ("1.5", "1.500000", None)
    assert emulator.requests() == []
    assert stream_events(live, "POST", "/api/v1/chat/messages/", other_token, json_body={"content": "hi"})[
        -1
    ].event == ("message_stop")


@pytest.mark.parametrize("header", [{}, {"Idempotency-Key": "k-1"}])
def test_an_idempotent_replay_of_an_answered_turn_is_served_after_the_budget_ran_out(live, alice, emulator, header):
    user, token = alice
    UserBudget.objects.create(user=user, monthly_token_limit=1_000)
    body = {"content": "[[emu:tokens=20]] hello"}
    first = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body=body, extra_headers=header)
    _spent_before(user, 5_000)  # the budget runs out afterwards

    with httpx.Client(base_url=live.url, timeout=30) as client:
        repeat = client.post("/api/v1/chat/messages/", json=body, headers=headers(token, **header))

    if header:  # a replay costs nothing: the same answer's stream
        assert repeat.status_code == 200
        assert first[0].data["assistant_message_id"] in repeat.text
    else:
        assert repeat.status_code == 402
