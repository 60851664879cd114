"""On the embedded defaults (the emulator, no rules) every headline feature works and looks right.

No emulator rule is added here: the emulator recognises the product's own tasks and answers
each in the shape the product expects (backend/llm/emulator/product_tasks.py).
"""

from __future__ import annotations

import httpx
import pytest

from chat import tasks
from chat.models import Chat, Message, UserMemory
from prototypes.models import DesignProject, PrototypeVersion
from tests.chat.factories import ChatFactory, turn
from tests.sse import headers, stream_events

API = "/api/v1/prototypes"


@pytest.fixture
def project(alice):
    user, _ = alice
    return DesignProject.objects.create(user=user, name="Shop", description="")


def test_a_prototype_is_generated_then_varied_and_edited(live, alice, project):
    _, token = alice

    events = stream_events(
        live,
        "POST",
        f"{API}/generate/",
        token,
        json_body={"design_project_id": str(project.id), "prompt": "A pricing page"},
    )

    assert events[-1].event == "message_stop", events[-1].data
    first = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert first.status == "complete"
    assert "A pricing page" in first.html_content
    assert "Canned prototype" in first.html_content
    assert 'class="' in first.html_content  # Tailwind utility classes
    assert events[0].data["version_number"] == 1  # an integer, as in the REST API

    variant_events = stream_events(
        live, "POST", f"{API}/prototypes/{first.variant.prototype_id}/create-variant/", token, json_body={}
    )
    assert variant_events[-1].event == "message_stop", variant_events[-1].data
    variant = PrototypeVersion.objects.get(id=variant_events[0].data["version_id"])
    assert (variant.status, variant.kind) == ("complete", "variant")
    assert variant.html_content != first.html_content

    edit_events = stream_events(
        live,
        "POST",
        f"{API}/variants/{first.variant_id}/create-version/",
        token,
        json_body={"prompt": "Make the button green"},
    )
    assert edit_events[-1].event == "message_stop", edit_events[-1].data
    edited = PrototypeVersion.objects.get(id=edit_events[0].data["version_id"])
    assert (edited.status, edited.edit_mode) == ("complete", "patch")
    assert "Edited: Make the button green" in edited.html_content


def test_a_generated_prototype_counts_in_its_project_detail_and_list(live, alice, project):
    _, token = alice
    before = httpx.get(f"{live.url}{API}/projects/{project.id}/", headers=headers(token)).json()

    stream_events(
        live, "POST", f"{API}/generate/", token, json_body={"design_project_id": str(project.id), "prompt": "A shop"}
    )

    detail = httpx.get(f"{live.url}{API}/projects/{project.id}/", headers=headers(token)).json()
    renamed = httpx.patch(
        f"{live.url}{API}/projects/{project.id}/", json={"name": "Store"}, headers=headers(token)
    ).json()
    listed = httpx.get(f"{live.url}{API}/projects/", headers=headers(token)).json()["results"]
    assert (before["prototypes_count"], detail["prototypes_count"], renamed["prototypes_count"]) == (0, 1, 1)
    assert listed[0]["prototypes_count"] == 1


@pytest.mark.django_db
def test_a_chat_gets_a_short_title_from_the_users_words(emulator):
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat, user_text="How do I feed a sourdough starter every day?", assistant_text="Flour and water.")

    title = tasks.generate_chat_title.delay(str(chat.id)).get()

    assert title == "How do I feed a"
    assert "Echo" not in Chat.objects.get(id=chat.id).title


@pytest.mark.django_db
def test_memory_extraction_records_the_users_own_statements(emulator, caplog):
    chat = ChatFactory()
    pair = turn(chat, user_text="I prefer Python for scripting. What is a closure?", assistant_text="A function...")
    answer = pair.messages.get(role=Message.Role.ASSISTANT)

    tasks.extract_turn_memories.delay(str(answer.id)).get()

    memories = list(UserMemory.objects.filter(user_id=chat.user_id).values_list("summary", "category"))
    assert memories == [("Prefers Python for scripting", "preference")]
    assert "dropped" not in caplog.text
