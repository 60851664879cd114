"""Tool calls in chat answers, scripted through the Bedrock emulator over a real server.

The emulator answers the first model call with a scripted `toolUse` (a rule used once) and the
next with ordinary text, so each test drives one full loop: tool_call → (tool_confirmation →
confirm/reject/timeout) → tool_result → the model's answer, with the call audited and stored.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from backend.llm.models import LLMCall
from chat.models import Chat, Message, Project, ProjectKnowledge
from tests.chat.factories import ChatFactory, ProjectFactory, ProjectKnowledgeFactory
from tests.sse import assert_stream_contract, headers, parse_sse, stream_events
from tools.models import ToolCallAudit

pytestmark = pytest.mark.slow


def script_tool(emulator, name, tool_input, times=1):
    emulator.add_rule(
        {"match": "TOOLTEST", "response": {"tool_use": {"name": name, "input": tool_input}}, "times": times}
    )


def send(live, token, content="TOOLTEST please", **body):
    return stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": content, **body})


def of(events, name):
    return [event for event in events if event.event == name]


def chat_requests(emulator):
    """The answer's model calls (titles and memory extraction call the model too, without streaming)."""
    return [request for request in emulator.requests() if request["operation"] == "converse-stream"]


def tool_results_sent(emulator):
    """The toolResult blocks the model received, across every recorded request."""
    return [
        block["toolResult"]
        for request in chat_requests(emulator)
        for message in request["body"].get("messages", [])
        for block in message.get("content", [])
        if "toolResult" in block
    ]


def test_a_read_tool_runs_at_once_and_its_result_goes_back_to_the_model(live, alice, emulator):
    user, token = alice
    ProjectFactory(user=user, name="Thesis")
    script_tool(emulator, "list_projects", {})

    events = send(live, token)

    assert_stream_contract(events)
    names = [event.event for event in events]
    assert names.index("tool_call") < names.index("tool_result") < names.index("message_stop")
    call, result = of(events, "tool_call")[0].data, of(events, "tool_result")[0].data
    assert (call["tool"], call["kind"], result["status"], result["is_error"]) == ("list_projects", "read", "ok", False)
    assert "Thesis" in result["content"]
    assert events[-1].data["stop_reason"] == "end_turn"
    first_request = chat_requests(emulator)[0]["body"]
    offered = {tool["toolSpec"]["name"] for tool in first_request["toolConfig"]["tools"]}
    assert {"list_projects", "delete_knowledge", "search_project_knowledge", "start_prototype"} <= offered
    [sent] = tool_results_sent(emulator)
    assert "Thesis" in sent["content"][0]["text"]
    message = Message.objects.get(id=events[0].data["assistant_message_id"])
    assert [(c["tool"], c["status"]) for c in message.tool_calls] == [("list_projects", "ok")]
    audit = ToolCallAudit.objects.get()
    assert (audit.user_id, audit.tool, audit.outcome) == (user.id, "list_projects", "ok")
    assert audit.reference == f"chat.message:{message.id}"
    # Both model calls are in the ledger when the stream ends (the first written before the
    # second call, the last with the terminal state), and they add up to what the answer shows.
    calls = LLMCall.objects.filter(reference=f"chat.message:{message.id}")
    assert calls.count() == 2
    assert sum(call.output_tokens for call in calls) == message.output_tokens
    assert sum(call.cost for call in calls) == message.cost


def test_a_write_tool_runs_and_is_reported(live, alice, emulator):
    user, token = alice
    script_tool(emulator, "create_project", {"name": "Garden", "description": "vegetables"})

    events = send(live, token)

    assert of(events, "tool_result")[0].data["status"] == "ok"
    assert Project.objects.get(user=user, name="Garden").description == "vegetables"


def test_another_users_object_is_not_found_and_nothing_of_it_leaks(live, alice, bob, emulator):
    _, token = alice
    bob_user, _ = bob
    secret = ChatFactory(user=bob_user, title="Bob's secret plans")
    script_tool(emulator, "archive_chat", {"chat_id": str(secret.id)})

    events = send(live, token)

    result = of(events, "tool_result")[0].data
    assert (result["status"], result["is_error"]) == ("error", True)
    assert "chat_not_found" in result["content"] and "secret" not in result["content"]
    assert "secret" not in str(chat_requests(emulator)[-1]["body"]["messages"])
    assert not Chat.objects.get(id=secret.id).archived
    assert tool_results_sent(emulator)[0]["status"] == "error"


def test_an_invalid_input_is_told_to_the_model_and_nothing_runs(live, alice, emulator):
    user, token = alice
    script_tool(emulator, "create_project", {"name": 5, "colour": "red"})

    events = send(live, token)

    result = of(events, "tool_result")[0].data
    assert result["status"] == "invalid" and "Nothing was run" in result["content"]
    assert not Project.objects.filter(user=user).exists()
    assert tool_results_sent(emulator)[0]["status"] == "error"
    assert ToolCallAudit.objects.get().outcome == "invalid"


def test_the_step_bound_ends_the_answer_without_running_more_calls(live, alice, emulator, settings):
    _, token = alice
    settings.TOOLS_MAX_STEPS = 2
    script_tool(emulator, "list_projects", {}, times=10)  # the model would call forever

    events = send(live, token)

    assert [event.data["status"] for event in of(events, "tool_result")] == ["ok", "limit"]
    assert len(chat_requests(emulator)) == 2
    assert events[-1].event == "message_stop" and events[-1].data["stop_reason"] == "tool_limit"
    assert sorted(ToolCallAudit.objects.values_list("outcome", flat=True)) == ["limit", "ok"]


def test_tools_switched_off_for_the_project_are_not_offered(live, alice, emulator):
    user, token = alice
    project = ProjectFactory(user=user, tools_enabled=False)

    send(live, token, "hello", project_id=str(project.id))

    assert "toolConfig" not in chat_requests(emulator)[-1]["body"]


# --- destructive calls: the answer waits for the user -------------------------------------------


def _destructive_answer(live, token, decide):
    """Stream an answer; when it asks for confirmation, `decide(client, message_id, call_id)`."""
    events = []
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream(
            "POST", "/api/v1/chat/messages/", json={"content": "TOOLTEST delete it"}, headers=headers(token)
        ) as response,
    ):
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            if event.event == "tool_confirmation":
                decide(client, events[0].data["assistant_message_id"], event.data["call_id"])
    return events


def _knowledge(user):
    return ProjectKnowledgeFactory(project=ProjectFactory(user=user), title="Old notes")


def test_a_confirmed_destructive_call_runs(live, alice, emulator):
    user, token = alice
    knowledge = _knowledge(user)
    script_tool(emulator, "delete_knowledge", {"knowledge_id": str(knowledge.id)})
    answers = []

    def confirm(client, message_id, call_id):
        answers.append(
            client.post(f"/api/v1/chat/messages/{message_id}/tool-calls/{call_id}/confirm/", headers=headers(token))
        )

    events = _destructive_answer(live, token, confirm)

    assert_stream_contract(events)
    assert [event.event for event in events if event.event.startswith("tool_")] == [
        "tool_call",
        "tool_confirmation",
        "tool_result",
    ]
    assert of(events, "tool_confirmation")[0].data["summary"] == (
        'Delete the knowledge item "Old notes" from its project, for good.'
    )
    assert answers[0].status_code == 200 and answers[0].json()["decision"] == "confirmed"
    assert of(events, "tool_result")[0].data["status"] == "ok"
    assert not ProjectKnowledge.objects.filter(id=knowledge.id).exists()
    assert ToolCallAudit.objects.get().outcome == "ok"


def test_a_rejected_destructive_call_does_not_run_and_the_model_is_told(live, alice, bob, emulator):
    user, token = alice
    _, bob_token = bob
    knowledge = _knowledge(user)
    script_tool(emulator, "delete_knowledge", {"knowledge_id": str(knowledge.id)})
    answers = []

    def reject(client, message_id, call_id):
        base = f"/api/v1/chat/messages/{message_id}/tool-calls/{call_id}"
        answers.append(client.post(f"{base}/confirm/", headers=headers(bob_token)))  # not Bob's to decide
        answers.append(client.post(f"{base}/reject/", headers=headers(token)))
        answers.append(client.post(f"{base}/confirm/", headers=headers(token)))  # too late: rejected stands

    events = _destructive_answer(live, token, reject)

    assert [answer.status_code for answer in answers] == [404, 200, 409]
    assert answers[0].json()["error"]["code"] == "tool_call_not_pending"
    assert answers[2].json()["error"]["code"] == "tool_call_already_decided"
    assert of(events, "tool_result")[0].data["status"] == "rejected"
    assert ProjectKnowledge.objects.filter(id=knowledge.id).exists()
    assert "rejected" in tool_results_sent(emulator)[0]["content"][0]["text"]
    assert ToolCallAudit.objects.get().outcome == "rejected"


def test_an_unanswered_destructive_call_times_out_as_rejected(live, alice, emulator, settings):
    user, token = alice
    settings.TOOLS_CONFIRM_TIMEOUT_SECONDS = 0.3
    knowledge = _knowledge(user)
    script_tool(emulator, "delete_knowledge", {"knowledge_id": str(knowledge.id)})
    seen = threading.Event()

    events = _destructive_answer(live, token, lambda *args: seen.set())

    assert seen.is_set()
    assert of(events, "tool_result")[0].data["status"] == "timeout"
    assert events[-1].event == "message_stop"
    assert ProjectKnowledge.objects.filter(id=knowledge.id).exists()
    message_id, call_id = events[0].data["assistant_message_id"], of(events, "tool_call")[0].data["call_id"]
    late = httpx.post(
        f"{live.url}/api/v1/chat/messages/{message_id}/tool-calls/{call_id}/confirm/", headers=headers(token)
    )
    assert (late.status_code, late.json()["error"]["details"]) == (409, {"decision": "timeout"})
    assert ToolCallAudit.objects.get().outcome == "timeout"
