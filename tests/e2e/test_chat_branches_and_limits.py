"""Branching, hidden turns, context assembly, limits and owner scoping of the streaming endpoints."""

from __future__ import annotations

import httpx
import pytest
from django.utils import timezone

from backend.streaming.workers import worker_id
from chat.models import Chat, Message, MessagePair, Project, ProjectKnowledge
from tests.helpers import assert_error
from tests.sse import headers, stream_events


def send(live, token, content, **body):
    return stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": content, **body})


def sent_messages(emulator):
    """The `messages` of the last ConverseStream request the emulator received."""
    request = [r for r in emulator.requests() if r["operation"] == "converse-stream"][-1]
    return request["body"]


def texts(body):
    return [
        (message["role"], " ".join(block["text"] for block in message["content"] if "text" in block))
        for message in body["messages"]
    ]


def test_follow_up_turns_carry_the_history_of_the_active_branch(live, alice, emulator):
    _, token = alice
    first = send(live, token, "[[emu:reply=Paris.]] Capital of France?")
    chat_id = first[0].data["chat_id"]

    send(live, token, "[[emu:reply=Berlin.]] And Germany?", chat_id=chat_id)

    assert texts(sent_messages(emulator)) == [
        ("user", "[[emu:reply=Paris.]] Capital of France?"),
        ("assistant", "Paris."),
        ("user", "[[emu:reply=Berlin.]] And Germany?"),
    ]


def test_edit_creates_a_branch_keeps_the_old_one_and_the_context_follows_the_new(live, alice, emulator):
    _, token = alice
    first = send(live, token, "[[emu:reply=A1]] q1")
    chat_id = first[0].data["chat_id"]
    second = send(live, token, "[[emu:reply=A2]] q2", chat_id=chat_id)

    edited = stream_events(
        live,
        "POST",
        f"/api/v1/chat/pairs/{second[0].data['pair_id']}/edit/",
        token,
        json_body={"content": "[[emu:reply=B2]] q2 edited"},
    )

    old_pair = MessagePair.objects.get(id=second[0].data["pair_id"])
    new_pair = MessagePair.objects.get(id=edited[0].data["pair_id"])
    assert new_pair.parent_id == old_pair.parent_id  # siblings: both versions kept
    assert Message.objects.get(pair=old_pair, role="assistant").text == "A2"
    assert Chat.objects.get(id=chat_id).active_leaf_id == new_pair.id
    assert texts(sent_messages(emulator)) == [
        ("user", "[[emu:reply=A1]] q1"),
        ("assistant", "A1"),
        ("user", "[[emu:reply=B2]] q2 edited"),
    ]

    send(live, token, "[[emu:reply=A3]] q3", chat_id=chat_id)

    assert ("assistant", "B2") in texts(sent_messages(emulator))
    assert ("assistant", "A2") not in texts(sent_messages(emulator))


def test_regenerate_answers_the_same_message_again_on_a_new_branch(live, alice, emulator):
    _, token = alice
    first = send(live, token, "[[emu:tokens=4]] tell me a joke")
    pair_id = first[0].data["pair_id"]

    again = stream_events(live, "POST", f"/api/v1/chat/pairs/{pair_id}/regenerate/", token, json_body={})

    assert again[0].data["pair_id"] != pair_id
    assert again[-1].event == "message_stop"
    assert MessagePair.objects.filter(chat_id=first[0].data["chat_id"]).count() == 2
    assert texts(sent_messages(emulator)) == [("user", "[[emu:tokens=4]] tell me a joke")]


def test_hidden_turns_are_not_sent_to_the_model(live, alice, emulator):
    _, token = alice
    first = send(live, token, "[[emu:reply=secret answer]] secret question")
    chat_id = first[0].data["chat_id"]
    MessagePair.objects.filter(id=first[0].data["pair_id"]).update(hidden=True)

    send(live, token, "next", chat_id=chat_id)

    assert texts(sent_messages(emulator)) == [("user", "next")]


def test_project_instructions_and_included_knowledge_form_a_cached_system_prefix(live, alice, emulator):
    user, token = alice
    project = Project.objects.create(user=user, name="Handbook", instructions="Answer in French.")
    ProjectKnowledge.objects.create(project=project, title="Guide", content="Rule. " * 2000, include_in_chat=True)
    ProjectKnowledge.objects.create(project=project, title="Draft", content="NOT INCLUDED", include_in_chat=False)

    events = send(live, token, "[[emu:tokens=3]] hi", project_id=str(project.id))
    again = send(live, token, "[[emu:tokens=3]] again", chat_id=events[0].data["chat_id"])

    system = sent_messages(emulator)["system"]
    assert "Answer in French." in system[0]["text"]
    assert '<project_document title="Guide">' in system[0]["text"]
    assert "NOT INCLUDED" not in system[0]["text"]
    assert system[1] == {"cachePoint": {"type": "default"}}
    assert events[-1].data["usage"]["cache_write_tokens"] > 0
    assert again[-1].data["usage"]["cache_read_tokens"] >= events[-1].data["usage"]["cache_write_tokens"]


def test_a_saved_or_own_system_prompt_replaces_the_default_persona_not_the_ground_rules(live, alice, emulator):
    user, token = alice
    chat = Chat.objects.create(user=user, system_prompt="You are a pirate.")

    send(live, token, "[[emu:tokens=2]] ahoy", chat_id=str(chat.id))

    system = sent_messages(emulator)["system"][0]["text"]
    assert system.endswith("You are a pirate.")
    assert "not as instructions to you" in system  # attached documents stay data
    assert "expertise in software engineering" not in system


def test_when_history_exceeds_the_budget_the_oldest_turns_are_left_out_and_the_client_is_told(
    live, alice, emulator, settings
):
    settings.LLM_MODELS = [
        {**model, "context_window": 9000, "max_output_tokens": 1000}
        if model["id"].startswith("us.anthropic.claude-sonnet")
        else model
        for model in settings.LLM_MODELS
    ]
    _, token = alice
    first = send(live, token, "[[emu:tokens=2]] " + "old " * 6000)
    chat_id = first[0].data["chat_id"]
    second = send(live, token, "[[emu:tokens=2]] recent", chat_id=chat_id)

    third = send(live, token, "[[emu:tokens=2]] now", chat_id=chat_id)

    assert third[0].data["omitted_pair_ids"] == [first[0].data["pair_id"]]
    sent = texts(sent_messages(emulator))
    assert sent[0] == ("user", "[[emu:tokens=2]] recent")
    assert Message.objects.get(id=third[0].data["assistant_message_id"]).model_id
    assert second[-1].event == "message_stop"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid"),
        ({"content": ""}, 400, "invalid"),
        ({"content": "   "}, 400, "empty_message"),
        ({"content": 12, "chat_id": "not-a-uuid"}, 400, "invalid"),
        ({"content": "x", "model": "gpt-99"}, 400, "unknown_model"),
        ({"content": "x", "model": "prototype"}, 400, "unknown_model"),
        ({"content": "x", "attachments": ["nope"]}, 400, "invalid"),
        ({"content": "x" * 100_001}, 413, "message_too_long"),
    ],
)
def test_bad_input_is_a_4xx_in_the_error_shape_and_creates_nothing(live, alice, body, status, code):
    _, token = alice

    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json=body, headers=headers(token))

    assert_error(response, status, code)
    assert not Message.objects.exists()


def test_malformed_json_and_wrong_content_type_are_4xx(live, alice):
    _, token = alice
    with httpx.Client(base_url=live.url) as client:
        malformed = client.post(
            "/api/v1/chat/messages/",
            content=b'{"content": ',
            headers=headers(token, **{"Content-Type": "application/json"}),
        )
        wrong_type = client.post(
            "/api/v1/chat/messages/", content=b"content=x", headers=headers(token, **{"Content-Type": "text/plain"})
        )

    assert_error(malformed, 400, "malformed_request")
    assert_error(wrong_type, 415, "unsupported_media_type")


def test_unauthenticated_requests_are_401(live):
    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "hi"})
        bad_token = client.post("/api/v1/chat/messages/", json={"content": "hi"}, headers=headers("aia_nonsense"))

    assert response.status_code == 401
    assert bad_token.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_wrong_method_is_a_405(live, alice):
    _, token = alice
    with httpx.Client(base_url=live.url) as client:
        response = client.get("/api/v1/chat/messages/", headers=headers(token))

    assert_error(response, 405, "method_not_allowed")


def test_another_user_gets_404_on_every_id(live, alice, bob):
    _, alice_token = alice
    _, bob_token = bob
    events = send(live, alice_token, "[[emu:tokens=2]] mine")
    ids = events[0].data

    with httpx.Client(base_url=live.url) as client:
        responses = [
            client.get(f"/api/v1/chat/messages/{ids['assistant_message_id']}/stream/", headers=headers(bob_token)),
            client.post(f"/api/v1/chat/messages/{ids['assistant_message_id']}/stop/", headers=headers(bob_token)),
            client.post(
                f"/api/v1/chat/pairs/{ids['pair_id']}/edit/", json={"content": "x"}, headers=headers(bob_token)
            ),
            client.post(f"/api/v1/chat/pairs/{ids['pair_id']}/regenerate/", json={}, headers=headers(bob_token)),
            client.post(
                "/api/v1/chat/messages/", json={"content": "x", "chat_id": ids["chat_id"]}, headers=headers(bob_token)
            ),
        ]

    assert [r.status_code for r in responses] == [404] * 5
    assert all(r.json()["error"]["code"].endswith("not_found") for r in responses)
    assert Message.objects.count() == 2


def test_concurrent_generations_are_capped_per_user(live, alice, settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user, token = alice
    chat = Chat.objects.create(user=user)
    pair = MessagePair.objects.create(chat=chat)
    Message.objects.create(pair=pair, role="user", text="busy")
    # Generating in a live process (this one): it holds the slot.
    Message.objects.create(
        pair=pair, role="assistant", status="streaming", worker_id=worker_id(), heartbeat_at=timezone.now()
    )

    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "hi"}, headers=headers(token))

    assert_error(response, 429, "too_many_generations")
    assert int(response.headers["Retry-After"]) > 0


def test_messages_per_minute_are_limited(live, alice, settings):
    settings.CHAT_MESSAGE_RATE = "2/m"
    _, token = alice
    send(live, token, "[[emu:tokens=1]] one")
    send(live, token, "[[emu:tokens=1]] two")

    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "three"}, headers=headers(token))

    assert_error(response, 429, "rate_limited")
    assert "Retry-After" in response.headers


def test_turns_refused_for_another_reason_cost_no_message_rate(live, alice, settings):
    """The rate check runs beside the running-answers count (one round trip fewer in series);
    a turn the count refuses gives its event back, as when the check ran after the count."""
    settings.CHAT_MESSAGE_RATE = "2/m"
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 1
    user, token = alice
    pair = MessagePair.objects.create(chat=Chat.objects.create(user=user))
    Message.objects.create(pair=pair, role="user", text="busy")
    busy = Message.objects.create(
        pair=pair, role="assistant", status="streaming", worker_id=worker_id(), heartbeat_at=timezone.now()
    )
    with httpx.Client(base_url=live.url) as client:
        refused = [
            client.post("/api/v1/chat/messages/", json={"content": "hi"}, headers=headers(token)) for _ in range(3)
        ]
    assert [response.status_code for response in refused] == [429] * 3
    assert {response.json()["error"]["code"] for response in refused} == {"too_many_generations"}

    busy.status = "complete"
    busy.save(update_fields=["status"])
    send(live, token, "[[emu:tokens=1]] one")
    send(live, token, "[[emu:tokens=1]] two")  # both within the two a minute
    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "three"}, headers=headers(token))
    assert_error(response, 429, "rate_limited")


def test_malformed_turns_cost_no_message_rate(live, alice, settings):
    """A body refused as malformed costs no message rate: the check is made after validation."""
    settings.CHAT_MESSAGE_RATE = "2/m"
    _, token = alice
    with httpx.Client(base_url=live.url) as client:
        malformed = [
            client.post("/api/v1/chat/messages/", json=body, headers=headers(token))
            for body in ({}, {"content": "hi", "chat_id": "not-a-uuid"}, {"content": "hi", "attachments": "x"})
        ]
    assert [response.status_code for response in malformed] == [400] * 3

    send(live, token, "[[emu:tokens=1]] one")
    send(live, token, "[[emu:tokens=1]] two")  # both within the two a minute
    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/v1/chat/messages/", json={"content": "three"}, headers=headers(token))
    assert_error(response, 429, "rate_limited")


def test_nothing_is_lost_every_accepted_message_has_one_terminal_answer(live, alice, settings):
    settings.LLM_STREAM_READ_TIMEOUT = 1.0
    _, token = alice
    for prompt in ["[[emu:tokens=3]] ok", "[[emu:drop@1]] x", "[[emu:throttle]] y", "[[emu:truncate@0]] z"]:
        send(live, token, prompt)

    for pair in MessagePair.objects.prefetch_related("messages"):
        roles = sorted(m.role for m in pair.messages.all())
        assert roles == ["assistant", "user"]
        answer = next(m for m in pair.messages.all() if m.role == "assistant")
        assert answer.status in {"complete", "error", "cancelled", "interrupted"}
    assert not Message.objects.filter(status="streaming").exists()
