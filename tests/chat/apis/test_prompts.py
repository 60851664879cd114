"""Saved system prompts API."""

from __future__ import annotations

import pytest

from chat.models import SavedSystemPrompt
from tests.chat.factories import ChatFactory, SavedSystemPromptFactory
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"


def test_prompt_crud(client):
    created = client.post(f"{API}/prompts/", {"name": "Coder", "content": "You write Python."}, format="json")
    prompt_id = created.json()["id"]
    patched = client.patch(f"{API}/prompts/{prompt_id}/", {"content": "You write Rust."}, format="json")
    fetched = client.get(f"{API}/prompts/{prompt_id}/")
    deleted = client.delete(f"{API}/prompts/{prompt_id}/")

    assert created.status_code == 201
    assert set(created.json()) == {"id", "name", "content", "created_at", "updated_at"}
    assert patched.json()["content"] == "You write Rust."
    assert fetched.json()["name"] == "Coder"
    assert deleted.status_code == 204
    assert not SavedSystemPrompt.objects.filter(id=prompt_id).exists()


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"content": "y"}, {"name": "x" * 201, "content": "y"}])
def test_prompt_create_rejects_incomplete_input(client, body):
    response = client.post(f"{API}/prompts/", body, format="json")

    assert_error(response, 400, "invalid")


def test_deleting_a_prompt_detaches_chats(client, user):
    prompt = SavedSystemPromptFactory(user=user)
    chat = ChatFactory(user=user, saved_prompt=prompt)

    client.delete(f"{API}/prompts/{prompt.id}/")

    chat.refresh_from_db()
    assert chat.saved_prompt_id is None


@pytest.mark.parametrize("count", [5, 25])
def test_prompt_list_query_count_does_not_grow_with_the_page(client, user, count, django_assert_num_queries):
    SavedSystemPromptFactory.create_batch(count, user=user)
    SavedSystemPromptFactory()  # someone else's

    with django_assert_num_queries(1):
        response = client.get(f"{API}/prompts/", {"page_size": 50})

    assert len(response.json()["results"]) == count
