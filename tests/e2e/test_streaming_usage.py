"""Usage is true: what every user-facing figure shows equals the LLM-call ledger, to the cent.

Answers that complete, fail after content, fail before it, and are stopped each bill something
(or nothing); the terminal event, the message, the chat, the project and the user's totals
must all say what the ledger says.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum

from backend.llm.models import LLMCall
from chat.models import Message, Project
from tests.sse import assert_stream_contract, headers, parse_sse, stream_events

CENT = Decimal("0.01")


def _money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def _stop_midway(live, token, project_id) -> list:
    events: list = []
    first_delta = threading.Event()

    def read() -> None:
        with (
            httpx.Client(base_url=live.url, timeout=30) as client,
            client.stream(
                "POST",
                "/api/v1/chat/messages/",
                json={"content": "[[emu:tokens=400]] [[emu:delay_ms=20]] stop me", "project_id": project_id},
                headers=headers(token),
            ) as response,
        ):
            for event in parse_sse(response.iter_lines()):
                events.append(event)
                if event.event == "delta":
                    first_delta.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first_delta.wait(20)
    message_id = events[0].data["assistant_message_id"]
    assert httpx.post(f"{live.url}/api/v1/chat/messages/{message_id}/stop/", headers=headers(token)).status_code == 200
    reader.join(30)
    return events


def test_every_usage_figure_equals_the_ledger_for_complete_failed_and_stopped_answers(live, alice, emulator):
    user, token = alice
    project = Project.objects.create(user=user, name="Ledger")
    send = {"project_id": str(project.id)}

    complete = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "[[emu:tokens=20]] fine", **send}
    )
    failed = stream_events(
        live,
        "POST",
        "/api/v1/chat/messages/",
        token,
        json_body={"content": "[[emu:tokens=50]] [[emu:midstream_error=modelStreamErrorException@10]] break", **send},
    )
    stopped = _stop_midway(live, token, str(project.id))

    for events in (complete, failed, stopped):
        assert_stream_contract(events)
        end = events[-1]
        message = Message.objects.get(id=events[0].data["assistant_message_id"])
        # The terminal event names the model called and what it billed; the message stores the same.
        assert end.data["model"] == message.model_id != ""
        assert end.data["usage"]["output_tokens"] == message.output_tokens > 0
        call = LLMCall.objects.get(reference=f"chat.message:{message.id}")
        assert (call.model_id, call.output_tokens, call.cost) == (message.model_id, message.output_tokens, message.cost)
    assert [e[-1].event for e in (complete, failed, stopped)] == ["message_stop", "error", "message_stop"]

    ledger = LLMCall.objects.filter(user=user).aggregate(cost=Sum("cost"), output=Sum("output_tokens"))
    chat_ids = {events[0].data["chat_id"] for events in (complete, failed, stopped)}
    chats = [
        httpx.get(f"{live.url}/api/v1/chat/chats/{chat_id}/usage/", headers=headers(token)).json()["totals"]
        for chat_id in chat_ids
    ]
    project_totals = httpx.get(f"{live.url}/api/v1/chat/projects/{project.id}/usage/", headers=headers(token)).json()
    user_totals = httpx.get(f"{live.url}/api/v1/chat/usage/", headers=headers(token)).json()

    for totals in (project_totals["totals"], user_totals["totals"]):
        assert _money(totals["cost"]) == _money(ledger["cost"]) > 0
        assert totals["output_tokens"] == ledger["output"]
    assert _money(sum(Decimal(str(c["cost"])) for c in chats)) == _money(ledger["cost"])


@pytest.mark.parametrize("fault", ["throttle", "unavailable"])
def test_an_answer_that_failed_before_any_content_bills_nothing_and_shows_nothing(live, alice, emulator, fault):
    user, token = alice

    events = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": f"[[emu:{fault}]] no luck"}
    )

    assert_stream_contract(events)
    end = events[-1]
    assert end.event == "error"
    assert end.data["usage"]["output_tokens"] == 0
    assert end.data["model"]  # the model that was called, even though it failed
    user_totals = httpx.get(f"{live.url}/api/v1/chat/usage/", headers=headers(token)).json()["totals"]
    ledger = LLMCall.objects.filter(user=user).aggregate(cost=Sum("cost"))
    assert _money(user_totals["cost"]) == _money(ledger["cost"]) == Decimal("0.00")
