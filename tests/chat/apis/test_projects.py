"""Projects and knowledge API: CRUD, the knowledge token budget, nested lists, query counts."""

from __future__ import annotations

import pytest

from chat.models import Chat, Project, ProjectKnowledge
from tests.chat.factories import ChatFactory, ProjectFactory, ProjectKnowledgeFactory
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"


@pytest.fixture
def small_budget(settings):
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 100
    settings.CHAT_KNOWLEDGE_OVER_BUDGET = "refuse"
    return 100


# --- projects -----------------------------------------------------------------------------------


def test_project_crud(client, user):
    created = client.post(
        f"{API}/projects/", {"name": "Thesis", "description": "PhD", "instructions": "Cite sources."}, format="json"
    )
    project_id = created.json()["id"]
    fetched = client.get(f"{API}/projects/{project_id}/")
    patched = client.patch(f"{API}/projects/{project_id}/", {"instructions": "Be brief."}, format="json")
    deleted = client.delete(f"{API}/projects/{project_id}/")

    assert created.status_code == 201
    assert created.json()["knowledge_tokens"] == 0
    assert created.json()["knowledge_budget"] == 100_000
    assert fetched.json()["name"] == "Thesis"
    assert patched.json()["instructions"] == "Be brief."
    assert deleted.status_code == 204
    assert not Project.objects.filter(id=project_id).exists()


def test_project_create_requires_a_name(client):
    response = client.post(f"{API}/projects/", {"description": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"name": ["This field is required."]}


def test_project_detail_counts_only_included_knowledge(client, user):
    project = ProjectFactory(user=user)
    ProjectKnowledgeFactory(project=project, token_count=30)
    ProjectKnowledgeFactory(project=project, token_count=12)
    ProjectKnowledgeFactory(project=project, token_count=1000, include_in_chat=False)

    body = client.get(f"{API}/projects/{project.id}/").json()

    assert body["knowledge_tokens"] == 42


def test_deleting_a_project_keeps_its_chats(client, user):
    project = ProjectFactory(user=user)
    chat = ChatFactory(user=user, project=project)

    client.delete(f"{API}/projects/{project.id}/")

    chat.refresh_from_db()
    assert chat.project_id is None


@pytest.mark.parametrize("count", [5, 25])
def test_project_list_query_count_does_not_grow_with_the_page(client, user, count, django_assert_num_queries):
    for _ in range(count):
        ProjectKnowledgeFactory(project=ProjectFactory(user=user))
    ProjectFactory()  # someone else's

    with django_assert_num_queries(1):
        response = client.get(f"{API}/projects/", {"page_size": 50})

    rows = response.json()["results"]
    assert len(rows) == count
    assert all(row["knowledge_tokens"] > 0 for row in rows)


@pytest.mark.parametrize("count", [5, 25])
def test_project_chats_and_knowledge_lists(client, user, count, django_assert_num_queries):
    project = ProjectFactory(user=user)
    for _ in range(count):
        ChatFactory(user=user, project=project)
        ProjectKnowledgeFactory(project=project)
    ChatFactory(user=user)

    with django_assert_num_queries(2):  # project, page
        chats = client.get(f"{API}/projects/{project.id}/chats/", {"page_size": 50}).json()["results"]
    with django_assert_num_queries(2):
        knowledge = client.get(f"{API}/projects/{project.id}/knowledge/", {"page_size": 50}).json()["results"]

    assert len(chats) == count
    assert {row["project_id"] for row in chats} == {str(project.id)}
    assert len(knowledge) == count
    assert "content" not in knowledge[0]


# --- knowledge --------------------------------------------------------------------------------


def test_knowledge_create_computes_token_count(client, user):
    project = ProjectFactory(user=user)

    response = client.post(
        f"{API}/knowledge/",
        {"project_id": str(project.id), "title": "Spec", "content": "x" * 35},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["token_count"], body["include_in_chat"], body["content"]) == (10, True, "x" * 35)


def test_knowledge_create_for_another_users_project_is_refused(client):
    foreign = ProjectFactory()

    response = client.post(
        f"{API}/knowledge/", {"project_id": str(foreign.id), "title": "t", "content": "c"}, format="json"
    )

    assert_error(response, 400, "project_not_found")
    assert not ProjectKnowledge.objects.exists()


def test_knowledge_over_budget_is_refused_with_details(client, user, small_budget):
    project = ProjectFactory(user=user)
    ProjectKnowledgeFactory(project=project, token_count=80)

    response = client.post(
        f"{API}/knowledge/", {"project_id": str(project.id), "title": "big", "content": "x" * 71}, format="json"
    )

    assert_error(response, 400, "knowledge_budget_exceeded")
    assert response.json()["error"]["details"] == {"budget": 100, "used": 80, "requested": 21}


def test_excluded_knowledge_does_not_count_against_the_budget(client, user, small_budget):
    project = ProjectFactory(user=user)
    ProjectKnowledgeFactory(project=project, token_count=80)

    response = client.post(
        f"{API}/knowledge/",
        {"project_id": str(project.id), "title": "big", "content": "x" * 700, "include_in_chat": False},
        format="json",
    )

    assert response.status_code == 201


def test_knowledge_toggle_is_budget_checked(client, user, small_budget):
    project = ProjectFactory(user=user)
    ProjectKnowledgeFactory(project=project, token_count=80)
    excluded = ProjectKnowledgeFactory(project=project, content="x" * 175, include_in_chat=False)  # 50 tokens
    small = ProjectKnowledgeFactory(project=project, content="x" * 35, include_in_chat=False)  # 10 tokens

    refused = client.post(f"{API}/knowledge/{excluded.id}/toggle/")
    included = client.post(f"{API}/knowledge/{small.id}/toggle/")
    excluded_again = client.post(f"{API}/knowledge/{small.id}/toggle/")

    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"budget": 100, "used": 80, "requested": 50}
    assert included.json()["include_in_chat"] is True
    assert excluded_again.json()["include_in_chat"] is False


def test_knowledge_update_recounts_and_checks_the_budget(client, user, small_budget):
    project = ProjectFactory(user=user)
    knowledge = ProjectKnowledgeFactory(project=project, content="x" * 35)

    grown = client.patch(f"{API}/knowledge/{knowledge.id}/", {"content": "y" * 350}, format="json")
    too_big = client.patch(f"{API}/knowledge/{knowledge.id}/", {"content": "z" * 351}, format="json")

    assert grown.status_code == 200
    assert grown.json()["token_count"] == 100  # its own old count is not counted twice
    assert too_big.status_code == 400
    assert too_big.json()["error"]["details"] == {"budget": 100, "used": 0, "requested": 101}


def test_knowledge_detail_and_delete(client, user):
    knowledge = ProjectKnowledgeFactory(project=ProjectFactory(user=user), content="secret sauce")

    fetched = client.get(f"{API}/knowledge/{knowledge.id}/")
    deleted = client.delete(f"{API}/knowledge/{knowledge.id}/")

    assert fetched.json()["content"] == "secret sauce"
    assert deleted.status_code == 204
    assert not ProjectKnowledge.objects.filter(id=knowledge.id).exists()


@pytest.mark.parametrize("count", [5, 25])
def test_knowledge_list_filters_by_project(client, user, count, django_assert_num_queries):
    project = ProjectFactory(user=user)
    other = ProjectFactory(user=user)
    for _ in range(count):
        ProjectKnowledgeFactory(project=project)
    ProjectKnowledgeFactory(project=other)
    ProjectKnowledgeFactory()  # someone else's

    with django_assert_num_queries(1):
        filtered = client.get(f"{API}/knowledge/", {"project": str(project.id), "page_size": 50}).json()["results"]
    everything = client.get(f"{API}/knowledge/", {"page_size": 50}).json()["results"]

    assert len(filtered) == count
    assert len(everything) == count + 1


def test_chat_list_of_a_foreign_project_is_empty_not_leaky(client, user):
    foreign = ProjectFactory()
    ChatFactory(user=foreign.user, project=foreign)

    rows = client.get(f"{API}/chats/", {"project": str(foreign.id)}).json()["results"]

    assert rows == []
    assert Chat.objects.filter(project=foreign).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "content": "c"},
        {"project_id": "not-a-uuid", "title": "t", "content": "c"},
        {"project_id": "00000000-0000-0000-0000-000000000001", "title": "", "content": "c"},
        {"project_id": "00000000-0000-0000-0000-000000000001", "title": "t", "content": ""},
        {"project_id": "00000000-0000-0000-0000-000000000001", "title": "t", "content": "c", "include_in_chat": "x"},
    ],
)
def test_knowledge_create_rejects_bad_input(client, body):
    response = client.post(f"{API}/knowledge/", body, format="json")

    assert_error(response, 400, "invalid")


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 201}])
def test_project_patch_rejects_bad_input(client, user, body):
    project = ProjectFactory(user=user)

    response = client.patch(f"{API}/projects/{project.id}/", body, format="json")

    assert_error(response, 400, "invalid")
