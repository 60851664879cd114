"""Memory management API, manual extraction, title regeneration: contract, ownership, error shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chat.models import Chat, Message, UserMemory
from chat.services import memory as services
from chat.services.context import context_build
from tests.chat.factories import ChatFactory, ProjectFactory, turn
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

API = "/api/v1/chat"


def remember(user, summary: str, **fields) -> UserMemory:
    return services.memory_create(user=user, summary=summary, **fields)


def test_memory_crud_and_verify(client, user):
    created = client.post(
        f"{API}/memories/",
        {"summary": "Prefers metric units", "category": "preference", "tags": ["Units"]},
        format="json",
    )
    memory_id = created.json()["id"]
    patched = client.patch(
        f"{API}/memories/{memory_id}/", {"summary": "Prefers SI units", "tags": ["si", "units"]}, format="json"
    )
    unverified = client.post(f"{API}/memories/{memory_id}/verify/", {"verified": False}, format="json")
    fetched = client.get(f"{API}/memories/{memory_id}/")
    deleted = client.delete(f"{API}/memories/{memory_id}/")

    assert created.status_code == 201
    assert created.json()["is_verified"] is True  # written by the user
    assert created.json()["tags"] == ["units"]
    assert patched.json()["summary"] == "Prefers SI units"
    assert patched.json()["tags"] == ["si", "units"]
    assert unverified.json()["is_verified"] is False
    assert fetched.json()["summary"] == "Prefers SI units"
    assert deleted.status_code == 204
    assert not UserMemory.objects.filter(id=memory_id).exists()


def test_list_filters_and_search(client, user):
    remember(user, "Writes Rust", category="skill", tags=["rust"])
    remember(user, "Likes hiking", category="interest")
    gone = remember(user, "Lives in Lisbon")
    UserMemory.objects.filter(id=gone.id).update(is_active=False)
    remember(UserFactory(), "Writes Rust too")

    def summaries(query: str = "") -> list[str]:
        return [m["summary"] for m in client.get(f"{API}/memories/{query}").json()["results"]]

    assert summaries() == ["Likes hiking", "Writes Rust"]
    assert summaries("?q=rust") == ["Writes Rust"]
    assert summaries("?category=interest") == ["Likes hiking"]
    assert summaries("?tag=rust") == ["Writes Rust"]
    assert summaries("?active=false") == ["Lives in Lisbon"]


def test_the_list_query_count_does_not_grow_with_the_page(client, user, django_assert_num_queries):
    for index in range(3):
        remember(user, f"Fact {index}", tags=["a", "b"])
    with django_assert_num_queries(2):  # memories (+project) and their tags
        small = client.get(f"{API}/memories/?page_size=3")
    for index in range(10):
        remember(user, f"More {index}", tags=["c"])

    with django_assert_num_queries(2):
        large = client.get(f"{API}/memories/?page_size=13")

    assert (len(small.json()["results"]), len(large.json()["results"])) == (3, 13)


def test_another_users_memory_is_not_found(client):
    foreign = remember(UserFactory(), "Secret fact")

    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"{API}/memories/{foreign.id}/", {}, format="json")
        assert_error(response, 404, "memory_not_found")
    assert UserMemory.objects.filter(id=foreign.id).exists()


def test_a_memory_can_be_scoped_to_my_project_only(client, user):
    mine, theirs = ProjectFactory(user=user), ProjectFactory()

    ok = client.post(f"{API}/memories/", {"summary": "Uses tabs", "project_id": str(mine.id)}, format="json")
    refused = client.post(f"{API}/memories/", {"summary": "Uses tabs", "project_id": str(theirs.id)}, format="json")

    assert ok.json()["project_id"] == str(mine.id)
    assert refused.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"summary": ""}, {"summary": "x" * 301}, {"summary": "x", "category": "hobby"}, {"summary": "x", "tags": "a"}],
)
def test_create_rejects_invalid_input(client, body):
    response = client.post(f"{API}/memories/", body, format="json")

    assert_error(response, 400, "invalid")


def test_tags(client, user):
    created = client.post(f"{API}/memory-tags/", {"name": "Work"}, format="json")
    remember(user, "Is a nurse", tags=["work"])
    listed = client.get(f"{API}/memory-tags/")
    deleted = client.delete(f"{API}/memory-tags/{created.json()['id']}/")

    assert created.status_code == 201
    assert [(t["name"], t["memory_count"]) for t in listed.json()["results"]] == [("work", 1)]
    assert deleted.status_code == 204
    assert UserMemory.objects.get(user=user).tags.count() == 0


def test_a_tag_can_be_fetched_and_renamed_and_its_memories_keep_it(client, user):
    memory = remember(user, "Is a nurse", tags=["job"])
    tag_id = memory.tags.get().id

    fetched = client.get(f"{API}/memory-tags/{tag_id}/")
    renamed = client.patch(f"{API}/memory-tags/{tag_id}/", {"name": " Work "}, format="json")

    assert (fetched.status_code, fetched.json()["name"], fetched.json()["memory_count"]) == (200, "job", 1)
    assert (renamed.status_code, renamed.json()["name"], renamed.json()["memory_count"]) == (200, "work", 1)
    assert list(UserMemory.objects.get(id=memory.id).tags.values_list("name", flat=True)) == ["work"]


def test_renaming_a_tag_to_a_taken_or_blank_name_is_refused(client, user):
    remember(user, "Is a nurse", tags=["job", "work"])
    job = user.memory_tags.get(name="job")

    taken = client.patch(f"{API}/memory-tags/{job.id}/", {"name": "WORK"}, format="json")
    blank = client.patch(f"{API}/memory-tags/{job.id}/", {"name": "   "}, format="json")
    other = client.get(f"{API}/memory-tags/{UserFactory().memory_tags.create(name='x').id}/")

    assert_error(taken, 409, "memory_tag_exists")
    assert blank.status_code == 400 and set(blank.json()["error"]) == {"code", "message", "details"}
    assert_error(other, 404, "memory_tag_not_found")


def test_stats(client, user):
    remember(user, "Is a nurse", category="work", tags=["job"])
    remember(user, "Likes tea", category="preference")

    stats = client.get(f"{API}/memories/stats/").json()

    assert (stats["total"], stats["active"], stats["verified"], stats["tags"]) == (2, 2, 2, 1)
    assert stats["by_category"] == {"work": 1, "preference": 1}
    assert stats["enabled"] is True


def test_memory_can_be_switched_off_and_everything_forgotten(client, user):
    remember(user, "Is a nurse", tags=["job"])
    remember(UserFactory(), "Someone else's")

    off = client.patch(f"{API}/memories/settings/", {"enabled": False}, format="json")
    forgotten = client.delete(f"{API}/memories/")

    assert off.json() == {"enabled": False}
    assert client.get(f"{API}/memories/settings/").json() == {"enabled": False}
    assert forgotten.json() == {"deleted": 1}
    assert not UserMemory.objects.filter(user=user).exists()
    assert UserMemory.objects.count() == 1


def test_the_context_preview_is_exactly_what_the_model_receives(client, user):
    remember(user, "Is called Ada")
    remember(user, "Deploys on Kubernetes")
    chat = ChatFactory(user=user)
    pair = turn(chat, user_text="How do I deploy to Kubernetes?", assistant_text="")
    Message.objects.filter(pair=pair, role="assistant").update(status="streaming")

    preview = client.get(f"{API}/memories/context/?chat_id={chat.id}").json()
    sent = context_build(assistant_message=pair.messages.get(role="assistant")).request.system[-1].text

    assert preview["text"] == sent
    assert [m["summary"] for m in preview["memories"]] == ["Deploys on Kubernetes", "Is called Ada"]
    assert preview["token_estimate"] <= preview["budget_tokens"]
    assert UserMemory.objects.get(summary="Is called Ada").times_referenced == 1  # the real send, not the preview


def test_the_context_preview_is_empty_with_memory_off(client, user):
    remember(user, "Is called Ada")
    services.memory_settings_set(user=user, enabled=False)

    preview = client.get(f"{API}/memories/context/?q=hello").json()

    assert (preview["enabled"], preview["text"], preview["memories"]) == (False, "", [])


def test_manual_extraction_is_queued(client, user, emulator, django_capture_on_commit_callbacks):
    chat = ChatFactory(user=user)
    turn(chat, user_text="I am a nurse", assistant_text="Noted.")
    emulator.add_rule(
        {
            "match": "known_memories",
            "response": {
                "tool_use": {
                    "name": "record_memories",
                    "input": {"memories": [{"summary": "Works as a nurse", "category": "work", "confidence": 0.9}]},
                }
            },
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/chats/{chat.id}/extract-memories/")

    assert response.status_code == 202
    assert response.json() == {"queued": True}
    assert UserMemory.objects.get(user=user).source_chat_id == chat.id


@pytest.mark.parametrize("case", ["incognito_chat", "memory_disabled"])
def test_manual_extraction_is_refused_for_incognito_chats_and_with_memory_off(client, user, case):
    chat = ChatFactory(user=user, incognito=case == "incognito_chat")
    if case == "memory_disabled":
        services.memory_settings_set(user=user, enabled=False)

    response = client.post(f"{API}/chats/{chat.id}/extract-memories/")

    assert_error(response, 409, case)


def test_regenerate_title_replaces_any_title(client, user, emulator):
    emulator.add_rule({"match": "You name conversations", "response": {"text": "Night shift tips"}})
    chat = ChatFactory(user=user, title="mine", title_source=Chat.TitleSource.USER)
    turn(chat, user_text="Tips for night shifts?", assistant_text="Sleep well.")

    response = client.post(f"{API}/chats/{chat.id}/title/regenerate/")

    assert response.status_code == 200
    assert response.json()["title"] == "Night shift tips"
    assert response.json()["title_source"] == "generated"


def test_regenerate_title_before_any_answer_is_a_conflict(client, user):
    chat = ChatFactory(user=user)

    response = client.post(f"{API}/chats/{chat.id}/title/regenerate/")

    assert_error(response, 409, "nothing_to_title")


def test_regenerating_a_title_over_the_budget_is_a_402_without_a_model_call(client, user, emulator, settings):
    from backend.llm.models import LLMCall

    settings.USER_MONTHLY_COST_BUDGET_USD = 0.01
    LLMCall.objects.create(user=user, purpose="chat", alias="fast", model_id="seeded", cost="0.02")
    chat = ChatFactory(user=user, title="mine", title_source=Chat.TitleSource.USER)
    turn(chat)

    response = client.post(f"{API}/chats/{chat.id}/title/regenerate/")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exhausted"
    assert response.json()["error"]["details"]["limit_usd"] == "0.01"
    assert emulator.requests() == []
    chat.refresh_from_db()
    assert chat.title == "mine"


def test_a_model_failure_on_regenerate_has_the_error_shape(client, user, emulator):
    emulator.add_rule({"match": "You name conversations", "response": {"fault": "error:ValidationException"}})
    chat = ChatFactory(user=user)
    turn(chat)

    response = client.post(f"{API}/chats/{chat.id}/title/regenerate/")

    assert_error(response, 400, "llm_client_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/memories/"),
        ("delete", "/memories/"),
        ("get", "/memories/stats/"),
        ("get", "/memories/context/"),
        ("patch", "/memories/settings/"),
        ("get", "/memory-tags/"),
    ],
)
def test_memory_endpoints_need_authentication(method, path):
    response = getattr(APIClient(), method)(f"{API}{path}")

    assert response.status_code == 401


def test_every_memory_endpoint_is_in_the_schema():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]

    for path, methods in {
        "/api/v1/chat/memories/": {"get", "post", "delete"},
        "/api/v1/chat/memories/{memory_id}/": {"get", "patch", "delete"},
        "/api/v1/chat/memories/{memory_id}/verify/": {"post"},
        "/api/v1/chat/memories/stats/": {"get"},
        "/api/v1/chat/memories/settings/": {"get", "patch"},
        "/api/v1/chat/memories/context/": {"get"},
        "/api/v1/chat/memory-tags/": {"get", "post"},
        "/api/v1/chat/memory-tags/{tag_id}/": {"delete"},
        "/api/v1/chat/chats/{chat_id}/extract-memories/": {"post"},
        "/api/v1/chat/chats/{chat_id}/title/regenerate/": {"post"},
    }.items():
        assert methods <= set(paths[path]), path
