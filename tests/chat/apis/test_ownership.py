"""Every id of one user is a 404 for another user, on every route and method; anonymous is a 401."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chat.models import Chat, MessagePair, Project, ProjectKnowledge, SavedSystemPrompt
from tests.chat.factories import (
    ChatFactory,
    ProjectFactory,
    ProjectKnowledgeFactory,
    SavedSystemPromptFactory,
    turn,
)
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"

ROUTES = [
    ("get", "chats/{chat}/", None),
    ("patch", "chats/{chat}/", {"title": "stolen"}),
    ("delete", "chats/{chat}/", None),
    ("post", "chats/{chat}/archive/", None),
    ("post", "chats/{chat}/unarchive/", None),
    ("post", "chats/{chat}/system-prompt/", {"system_prompt": "stolen"}),
    ("get", "chats/{chat}/messages/", None),
    ("get", "chats/{chat}/usage/", None),
    ("get", "chats/{chat}/export/", None),
    ("get", "pairs/{pair}/siblings/", None),
    ("post", "pairs/{pair}/switch/", None),
    ("post", "pairs/{pair}/toggle/", None),
    ("delete", "pairs/{pair}/", None),
    ("get", "projects/{project}/", None),
    ("patch", "projects/{project}/", {"name": "stolen"}),
    ("delete", "projects/{project}/", None),
    ("get", "projects/{project}/knowledge/", None),
    ("get", "projects/{project}/chats/", None),
    ("get", "projects/{project}/usage/", None),
    ("get", "knowledge/{knowledge}/", None),
    ("patch", "knowledge/{knowledge}/", {"title": "stolen"}),
    ("delete", "knowledge/{knowledge}/", None),
    ("post", "knowledge/{knowledge}/toggle/", None),
    ("get", "prompts/{prompt}/", None),
    ("patch", "prompts/{prompt}/", {"name": "stolen"}),
    ("delete", "prompts/{prompt}/", None),
]


@pytest.fixture
def owners_rows():
    owner = UserFactory()
    project = ProjectFactory(user=owner)
    chat = ChatFactory(user=owner, project=project, title="Owner's chat")
    pair = turn(chat)
    return {
        "chat": chat.id,
        "pair": pair.id,
        "project": project.id,
        "knowledge": ProjectKnowledgeFactory(project=project).id,
        "prompt": SavedSystemPromptFactory(user=owner).id,
    }


def _snapshot():
    return (
        list(Chat.objects.values_list("id", "title", "archived", "system_prompt", "active_leaf_id")),
        list(MessagePair.objects.values_list("id", "hidden")),
        list(Project.objects.values_list("id", "name")),
        list(ProjectKnowledge.objects.values_list("id", "title", "include_in_chat")),
        list(SavedSystemPrompt.objects.values_list("id", "name")),
    )


@pytest.mark.parametrize(("method", "route", "body"), ROUTES)
def test_another_users_id_is_a_404_and_changes_nothing(owners_rows, method, route, body):
    intruder = APIClient()
    intruder.force_authenticate(UserFactory())
    before = _snapshot()

    response = getattr(intruder, method)(f"{API}/{route.format(**owners_rows)}", body, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"].endswith("not_found")
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("method", "route"),
    [
        *[(method, route) for method, route, _ in ROUTES],
        ("get", "chats/"),
        ("post", "chats/"),
        ("get", "chats/search/?q=x"),
        ("get", "projects/"),
        ("get", "knowledge/"),
        ("get", "prompts/"),
        ("get", "usage/"),
    ],
)
def test_anonymous_requests_are_401(owners_rows, method, route):
    response = getattr(APIClient(), method)(f"{API}/{route.format(**owners_rows)}")

    assert_error(response, 401, "not_authenticated")


def test_foreign_lists_stay_empty(owners_rows):
    intruder = APIClient()
    intruder.force_authenticate(UserFactory())

    for route in ("chats/", "projects/", "knowledge/", "prompts/", "chats/search/?q=owner"):
        assert intruder.get(f"{API}/{route}").json()["results"] == [], route
