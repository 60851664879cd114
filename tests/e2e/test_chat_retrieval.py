"""Project knowledge in answers: sent whole within the budget, as cited excerpts beyond it."""

from __future__ import annotations

import pytest

from chat.models import Message
from chat.services.knowledge_index import knowledge_index
from tests.chat.factories import ProjectFactory, ProjectKnowledgeFactory
from tests.sse import stream_events

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("hashing_embedder")]


def _project(user):
    project = ProjectFactory(user=user)
    tides = ProjectKnowledgeFactory(
        project=project, title="Oceans", content="# Tides\nThe moon's gravity raises the tides twice a day.\n"
    )
    bread = ProjectKnowledgeFactory(
        project=project, title="Kitchen", content="# Bread\nSourdough bread needs flour, water and a starter.\n"
    )
    for item in (tides, bread):
        knowledge_index(knowledge_id=item.id)
    return project


def _ask(live, token, project, question):
    events = stream_events(
        live, "POST", "/api/v1/chat/messages/", token, json_body={"content": question, "project_id": str(project.id)}
    )
    return events, Message.objects.get(id=events[0].data["assistant_message_id"])


def test_beyond_the_budget_the_found_chunks_are_sent_and_cited(live, alice, emulator, settings):
    user, token = alice
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 5
    settings.RETRIEVAL_CHAT_TOP_K = 1
    project = _project(user)

    events, message = _ask(live, token, project, "What does sourdough bread need?")

    names = [event.event for event in events]
    assert names[-2:] == ["citations", "message_stop"]
    [citation] = events[-2].data["citations"]
    assert (citation["index"], citation["title"], citation["section"]) == (1, "Kitchen", "Bread")
    assert message.knowledge_mode == "retrieval"
    assert message.citations == events[-2].data["citations"]
    system = " ".join(block.get("text", "") for block in emulator.requests()[0]["body"]["system"])
    assert '<excerpt n="1" title="Kitchen" section="Bread">' in system
    assert "moon" not in system  # the other item stays out


def test_within_the_budget_the_knowledge_is_sent_whole_without_citations(live, alice, emulator):
    user, token = alice
    project = _project(user)

    events, message = _ask(live, token, project, "What does sourdough bread need?")

    assert "citations" not in [event.event for event in events]
    assert (message.knowledge_mode, message.citations) == ("whole", [])
    system = " ".join(block.get("text", "") for block in emulator.requests()[0]["body"]["system"])
    assert "moon" in system and "Sourdough" in system
