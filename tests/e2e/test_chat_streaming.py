"""Chat answers end to end: HTTP client → uvicorn → Django ASGI → LLM layer → emulator over HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.utils import timezone

from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.models import LLMCall
from chat.models import Chat, Message, MessagePair, TokenUsage
from chat.services.generation import engine
from tests.helpers import assert_error
from tests.sse import assert_stream_contract, headers, parse_sse, stream_events, stream_in_background, visible_text

PRIMARY = "us.anthropic.claude-sonnet-4-6"
SECONDARY = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def send(live, token, content, **body):
    return stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": content, **body})


def deltas(events):
    return "".join(e.data["text"] for e in events if e.event == "delta")


def test_a_streamed_answer_has_exact_text_usage_and_the_answering_model(live, alice, emulator):
    user, token = alice
    prompt = "Explain tides [[emu:tokens=30]]"

    events = send(live, token, prompt)

    assert events[0].event == "message_start"
    assert events[-1].event == "message_stop"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    start, stop = events[0].data, events[-1].data
    assert set(start) >= {"chat_id", "pair_id", "user_message_id", "assistant_message_id", "model"}
    assert start["model"] == PRIMARY == stop["model"]
    assert deltas(events) == "".join(default_reply_tokens(strip_directives(prompt), 30))
    assert stop["usage"]["output_tokens"] == 30
    assert stop["stop_reason"] == "end_turn"
    message = Message.objects.get(id=start["assistant_message_id"])
    assert message.status == "complete"
    assert message.text == deltas(events)
    assert message.model_id == PRIMARY
    assert message.output_tokens == 30
    assert message.input_tokens == stop["usage"]["input_tokens"] > 0
    chat = Chat.objects.get(id=start["chat_id"])
    assert chat.user == user
    assert chat.active_leaf_id == uuid.UUID(start["pair_id"])
    assert LLMCall.objects.get(purpose="chat").reference == f"chat.message:{message.id}"
    usage = TokenUsage.objects.get(chat=chat, purpose="chat")
    assert (usage.calls, usage.output_tokens) == (1, 30)


def test_a_disconnected_client_resumes_with_last_event_id_and_misses_nothing(live, alice):
    _, token = alice
    prompt = "[[emu:tokens=40]] [[emu:delay_ms=15]] long answer"
    seen = []
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream("POST", "/api/v1/chat/messages/", json={"content": prompt}, headers=headers(token)) as response,
    ):
        for event in parse_sse(response.iter_lines()):
            seen.append(event)
            if event.event == "delta" and len(seen) >= 6:
                break  # the client goes away mid-answer
    message_id = seen[0].data["assistant_message_id"]

    rest = stream_events(
        live,
        "GET",
        f"/api/v1/chat/messages/{message_id}/stream/",
        token,
        extra_headers={"Last-Event-ID": str(seen[-1].id)},
    )

    assert_stream_contract(rest, after=seen[-1].id)
    assert rest[0].data == seen[0].data  # the resumed stream opens with the same message_start (no id)
    everything = seen + rest[1:]
    assert [e.id for e in everything] == list(range(1, len(everything) + 1))  # every event exactly once
    assert deltas(everything) == "".join(default_reply_tokens(strip_directives(prompt), 40))
    assert rest[-1].event == "message_stop"
    assert Message.objects.get(id=message_id).status == "complete"


def test_resume_after_the_answer_finished_replays_the_log(live, alice):
    _, token = alice
    events = send(live, token, "[[emu:tokens=5]] short")
    message_id = events[0].data["assistant_message_id"]

    replay = stream_events(live, "GET", f"/api/v1/chat/messages/{message_id}/stream/", token)

    assert [(e.id, e.event) for e in replay] == [(e.id, e.event) for e in events]


def test_stop_ends_the_answer_cancelled_within_100_ms(live, alice):
    _, token = alice
    stream = stream_in_background(
        live,
        "POST",
        "/api/v1/chat/messages/",
        token,
        json_body={"content": "[[emu:tokens=500]] [[emu:delay_ms=20]] go on"},
    )
    assert stream.wait_for_first_delta()
    message_id = stream.start["assistant_message_id"]
    client = httpx.Client(base_url=live.url, timeout=10)
    client.get("/healthz")  # an open connection, so the stop request pays no connect time
    stop_sent = timezone.now()

    response = client.post(f"/api/v1/chat/messages/{message_id}/stop/", headers=headers(token))

    client.close()
    events = stream.join()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    message = Message.objects.get(id=message_id)
    assert message.status == "cancelled"
    assert (message.completed_at - stop_sent).total_seconds() < 0.1
    assert message.text and message.text == deltas(events)
    assert events[-1].event == "message_stop"
    assert events[-1].data["stop_reason"] == "cancelled"


def test_throttling_before_the_first_token_falls_back_to_the_next_model(live, alice, emulator):
    _, token = alice
    emulator.throttle(PRIMARY, 60)

    events = send(live, token, "[[emu:tokens=5]] hello")

    assert events[0].data["model"] == SECONDARY
    assert events[-1].event == "message_stop"
    assert Message.objects.get(id=events[0].data["assistant_message_id"]).model_id == SECONDARY


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("[[emu:midstream_error=modelStreamErrorException@4]]", "llm_model_error"),
        ("[[emu:midstream_error=throttlingException@4]]", "llm_throttled"),
        ("[[emu:drop@4]]", "llm_unavailable"),
        ("[[emu:truncate@4]]", "llm_truncated"),
        ("[[emu:stall@4]]", "llm_timeout"),
    ],
)
def test_a_failure_after_content_ends_the_message_as_error_with_its_partial_text(live, alice, settings, fault, code):
    settings.LLM_STREAM_READ_TIMEOUT = 1.0
    _, token = alice

    events = send(live, token, f"{fault} [[emu:tokens=20]] hello")

    assert events[-1].event == "error"
    assert events[-1].data["code"] == code
    assert events[-1].data["retryable"] is True
    partial = deltas(events)
    assert partial
    message = Message.objects.get(id=events[0].data["assistant_message_id"])
    assert (message.status, message.error_code, message.text) == ("error", code, partial)


def test_a_client_error_ends_as_error_without_fallback(live, alice, emulator):
    _, token = alice

    events = send(live, token, "[[emu:error=ValidationException]] hi")

    assert [e.event for e in events] == ["message_start", "error"]
    assert events[-1].data["retryable"] is False
    assert {r["model_id"] for r in emulator.requests()} == {PRIMARY}


def test_the_sweeper_turns_a_dead_generation_interrupted_and_followers_get_its_end(live, alice, settings):
    _, token = alice
    events = send(live, token, "[[emu:tokens=3]] first")
    pair = MessagePair.objects.get(id=events[0].data["pair_id"])
    # A generation whose process died: streaming, with partial text, heart-beat long ago.
    dead = MessagePair.objects.create(chat=pair.chat, parent=pair, depth=1)
    Message.objects.create(pair=dead, role="user", text="again")
    from django.utils import timezone

    orphan = Message.objects.create(
        pair=dead,
        role="assistant",
        status="streaming",
        text="partial answ",
        heartbeat_at=timezone.now() - timezone.timedelta(minutes=10),
    )

    assert engine.sweep() == 1

    orphan.refresh_from_db()
    assert (orphan.status, orphan.text, orphan.error_code) == ("interrupted", "partial answ", "interrupted")
    replay = stream_events(live, "GET", f"/api/v1/chat/messages/{orphan.id}/stream/", token)
    assert_stream_contract(replay)
    assert visible_text(replay) == "partial answ"
    assert replay[-1].event == "error"
    assert replay[-1].data["code"] == "interrupted"


def test_the_same_idempotency_key_twice_gives_one_generation(live, alice, emulator):
    _, token = alice
    body = {"content": "[[emu:tokens=6]] once only"}
    key = {"Idempotency-Key": "client-retry-123"}

    first = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body=body, extra_headers=key)
    second = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body=body, extra_headers=key)

    assert first[0].data["assistant_message_id"] == second[0].data["assistant_message_id"]
    assert deltas(first) == deltas(second)
    assert Message.objects.filter(role="assistant").count() == 1
    assert len([r for r in emulator.requests() if r["operation"] == "converse-stream"]) == 1


def test_an_idempotency_key_reused_for_another_body_is_a_409(live, alice):
    _, token = alice
    key = {"Idempotency-Key": "k-1"}
    stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "a"}, extra_headers=key)

    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "b"}, headers=headers(token, **key))

    assert_error(response, 409, "idempotency_key_reused")


def test_the_memories_an_answer_uses_are_counted_with_its_terminal_write_even_when_stopped(live, alice):
    from chat.models import UserMemory
    from chat.services.memory import memory_create

    user, token = alice
    memory = memory_create(user=user, summary="Deploys on Kubernetes", tags=["kubernetes"])
    stream = stream_in_background(
        live,
        "POST",
        "/api/v1/chat/messages/",
        token,
        json_body={"content": "How do I deploy to Kubernetes? [[emu:tokens=500]] [[emu:delay_ms=20]]"},
    )
    assert stream.wait_for_first_delta()
    assert UserMemory.objects.get(id=memory.id).times_referenced == 0  # not on the way to the first token

    message_id = stream.start["assistant_message_id"]
    with httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.post(f"/api/v1/chat/messages/{message_id}/stop/", headers=headers(token)).status_code == 200
    events = stream.join()

    assert events[-1].data["stop_reason"] == "cancelled"
    memory.refresh_from_db()
    assert memory.times_referenced == 1 and memory.last_referenced_at is not None
