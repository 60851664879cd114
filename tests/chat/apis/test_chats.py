"""The chats API: contract, owner scoping, pagination and query counts, archive, search, system prompt."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from chat.models import Chat
from tests.chat.factories import (
    ChatFactory,
    ProjectFactory,
    SavedSystemPromptFactory,
    TokenUsageFactory,
    turn,
)
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"


def _chats(user, count, **fields):
    now = timezone.now()
    chats = []
    for index in range(count):
        chat = ChatFactory(user=user, **fields)
        Chat.objects.filter(id=chat.id).update(updated_at=now - datetime.timedelta(minutes=index))
        chats.append(chat)
    return chats


# --- list --------------------------------------------------------------------------------------


def test_list_returns_the_users_unarchived_chats_newest_first(client, user):
    newest, older = _chats(user, 2)
    ChatFactory(user=user, archived=True)
    ChatFactory()  # someone else's

    response = client.get(f"{API}/chats/")

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [str(newest.id), str(older.id)]
    assert set(body["results"][0]) == {
        "id",
        "title",
        "title_source",
        "project_id",
        "model",
        "archived",
        "incognito",
        "last_message_preview",
        "created_at",
        "updated_at",
    }


def test_list_filters_archived_and_project(client, user):
    project = ProjectFactory(user=user)
    archived = ChatFactory(user=user, archived=True)
    in_project = ChatFactory(user=user, project=project)
    ChatFactory(user=user)

    archived_rows = client.get(f"{API}/chats/", {"archived": "true"}).json()["results"]
    project_rows = client.get(f"{API}/chats/", {"project": str(project.id)}).json()["results"]

    assert [row["id"] for row in archived_rows] == [str(archived.id)]
    assert [row["id"] for row in project_rows] == [str(in_project.id)]
    assert project_rows[0]["project_id"] == str(project.id)


@pytest.mark.parametrize("query", [{"archived": "maybe"}, {"project": "not-a-uuid"}])
def test_list_rejects_bad_filters(client, query):
    response = client.get(f"{API}/chats/", query)

    assert_error(response, 400, "invalid")


def test_list_pages_with_a_cursor(client, user):
    chats = _chats(user, 5)

    first = client.get(f"{API}/chats/", {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert [row["id"] for row in first["results"]] == [str(chat.id) for chat in chats[:2]]
    assert [row["id"] for row in second["results"]] == [str(chat.id) for chat in chats[2:4]]


@pytest.mark.parametrize("count", [5, 25])
def test_list_query_count_does_not_grow_with_the_page(client, user, count, django_assert_num_queries):
    _chats(user, count)

    with django_assert_num_queries(1):
        response = client.get(f"{API}/chats/", {"page_size": 50})

    assert len(response.json()["results"]) == count


# --- create / detail / update / delete ---------------------------------------------------------


def test_create_with_everything(client, user):
    project = ProjectFactory(user=user)
    prompt = SavedSystemPromptFactory(user=user)

    response = client.post(
        f"{API}/chats/",
        {
            "title": "Trip plan",
            "project_id": str(project.id),
            "saved_prompt_id": str(prompt.id),
            "system_prompt": "Be terse.",
            "model": "fast",
            "incognito": True,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Trip plan"
    assert body["title_source"] == "user"
    assert body["project_id"] == str(project.id)
    assert body["project_name"] == project.name
    assert body["saved_prompt_id"] == str(prompt.id)
    assert body["model"] == "fast"
    assert body["incognito"] is True
    assert Chat.objects.get(id=body["id"]).user == user


def test_create_without_a_title_gets_the_default(client):
    response = client.post(f"{API}/chats/", {}, format="json")

    assert response.status_code == 201
    assert response.json()["title"] == "New chat"
    assert response.json()["title_source"] == "default"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "no-such-alias"}, "unknown_model"),
        ({"model": "prototype"}, "unknown_model"),  # exists but is not selectable
        ({"project_id": "00000000-0000-0000-0000-000000000001"}, "project_not_found"),
        ({"saved_prompt_id": "00000000-0000-0000-0000-000000000001"}, "saved_prompt_not_found"),
        ({"incognito": "perhaps"}, "invalid"),
    ],
)
def test_create_rejects_bad_input(client, body, code):
    response = client.post(f"{API}/chats/", body, format="json")

    assert_error(response, 400, code)


def test_create_refuses_another_users_project(client):
    foreign = ProjectFactory()

    response = client.post(f"{API}/chats/", {"project_id": str(foreign.id)}, format="json")

    assert_error(response, 400, "project_not_found")


def test_detail_includes_prompt_and_token_totals(client, user):
    chat = ChatFactory(user=user, system_prompt="Be kind.")
    TokenUsageFactory(user=user, chat=chat, input_tokens=100, output_tokens=10, cost="0.5")
    TokenUsageFactory(user=user, chat=chat, purpose="title", input_tokens=7, output_tokens=3, cost="0.25")
    TokenUsageFactory(user=user)  # another chat's usage

    response = client.get(f"{API}/chats/{chat.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["system_prompt"] == "Be kind."
    assert body["usage"] == {
        "calls": 2,
        "input_tokens": 107,
        "output_tokens": 13,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost": "0.750000",
    }


def test_patch_title_makes_it_the_users(client, user):
    chat = ChatFactory(user=user, title_source=Chat.TitleSource.GENERATED)

    response = client.patch(f"{API}/chats/{chat.id}/", {"title": "  Mine  "}, format="json")

    assert response.status_code == 200
    chat.refresh_from_db()
    assert (chat.title, chat.title_source) == ("Mine", "user")


def test_patch_moves_detaches_and_re_models(client, user):
    project = ProjectFactory(user=user)
    chat = ChatFactory(user=user)

    moved = client.patch(f"{API}/chats/{chat.id}/", {"project_id": str(project.id), "model": "fast"}, format="json")
    detached = client.patch(f"{API}/chats/{chat.id}/", {"project_id": None, "system_prompt": "x"}, format="json")

    assert moved.json()["project_id"] == str(project.id)
    assert moved.json()["model"] == "fast"
    assert detached.json()["project_id"] is None
    assert detached.json()["system_prompt"] == "x"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid"),
        ({"title": ""}, "invalid"),
        ({"model": "nope"}, "unknown_model"),
        ({"title": "x" * 201}, "invalid"),
    ],
)
def test_patch_rejects_bad_input(client, user, body, code):
    chat = ChatFactory(user=user)

    response = client.patch(f"{API}/chats/{chat.id}/", body, format="json")

    assert_error(response, 400, code)


def test_delete_removes_the_chat_and_its_turns(client, user):
    chat = ChatFactory(user=user)
    turn(chat)

    response = client.delete(f"{API}/chats/{chat.id}/")

    assert response.status_code == 204
    assert not Chat.objects.filter(id=chat.id).exists()


def test_archive_and_unarchive(client, user):
    chat = ChatFactory(user=user)

    archived = client.post(f"{API}/chats/{chat.id}/archive/")
    listed_archived = client.get(f"{API}/chats/", {"archived": "true"}).json()["results"]
    unarchived = client.post(f"{API}/chats/{chat.id}/unarchive/")

    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    assert archived.json()["usage"]["calls"] == 0
    assert [row["id"] for row in listed_archived] == [str(chat.id)]
    assert unarchived.json()["archived"] is False
    assert client.get(f"{API}/chats/").json()["results"][0]["id"] == str(chat.id)


# --- system prompt -----------------------------------------------------------------------------


def test_system_prompt_from_a_saved_prompt_then_own_text_then_default(client, user):
    chat = ChatFactory(user=user, system_prompt="old")
    prompt = SavedSystemPromptFactory(user=user)
    url = f"{API}/chats/{chat.id}/system-prompt/"

    saved = client.post(url, {"saved_prompt_id": str(prompt.id)}, format="json").json()
    own = client.post(url, {"system_prompt": "Own text"}, format="json").json()
    default = client.post(url, {}, format="json").json()

    assert (saved["saved_prompt_id"], saved["system_prompt"]) == (str(prompt.id), "")
    assert (own["saved_prompt_id"], own["system_prompt"]) == (None, "Own text")
    assert (default["saved_prompt_id"], default["system_prompt"]) == (None, "")


def test_system_prompt_rejects_both_and_foreign_prompts(client, user):
    chat = ChatFactory(user=user)
    url = f"{API}/chats/{chat.id}/system-prompt/"
    mine = SavedSystemPromptFactory(user=user)
    foreign = SavedSystemPromptFactory()

    both = client.post(url, {"saved_prompt_id": str(mine.id), "system_prompt": "x"}, format="json")
    stolen = client.post(url, {"saved_prompt_id": str(foreign.id)}, format="json")

    assert_error(both, 400, "ambiguous_system_prompt")
    assert_error(stolen, 400, "saved_prompt_not_found")


# --- search ------------------------------------------------------------------------------------


def _search_fixture(user):
    by_title = ChatFactory(user=user, title="Kubernetes deployment notes")
    by_message = ChatFactory(user=user, title="Untitled")
    turn(by_message, user_text="How do I roll back a kubernetes deployment?", assistant_text="Use rollout undo.")
    ChatFactory(user=user, title="Cooking")
    foreign = ChatFactory(title="Kubernetes for someone else")
    return by_title, by_message, foreign


@pytest.mark.postgres
def test_search_ranks_title_and_message_matches_on_postgres(client, user):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL full-text search")
    by_title, by_message, _ = _search_fixture(user)

    response = client.get(f"{API}/chats/search/", {"q": "kubernetes"})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(by_title.id), str(by_message.id)]
    assert "**kubernetes**" in rows[1]["snippet"].lower()
    assert rows[1]["snippet"].lower().count("deployment") >= 1


@pytest.mark.postgres
def test_search_stems_words_on_postgres(client, user):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL full-text search")
    _, by_message, _ = _search_fixture(user)

    rows = client.get(f"{API}/chats/search/", {"q": "rolling"}).json()["results"]

    assert [row["id"] for row in rows] == [str(by_message.id)]


def test_search_requires_a_query(client):
    response = client.get(f"{API}/chats/search/")

    assert assert_error(response, 400, "invalid")["details"] == {"q": ["This field is required."]}


@pytest.mark.parametrize("count", [5, 25])
def test_search_query_count_does_not_grow_with_the_page(client, user, count, django_assert_num_queries):
    for index in range(count):
        ChatFactory(user=user, title=f"Kubernetes {index}")

    with django_assert_num_queries(1):  # the page (one row more than asked, to know if there is a next)
        response = client.get(f"{API}/chats/search/", {"q": "kubernetes", "page_size": 50})

    assert len(response.json()["results"]) == count


def test_search_pages_have_the_same_shape_as_every_list_and_follow_their_cursors(client, user):
    for index in range(5):
        ChatFactory(user=user, title=f"Kubernetes {index}")

    first = client.get(f"{API}/chats/search/", {"q": "kubernetes", "page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    back = client.get(second["previous"]).json()
    listing = client.get(f"{API}/chats/").json()

    assert set(first) == set(listing) == {"next", "previous", "results"}
    assert first["previous"] is None and third["next"] is None
    seen = [row["id"] for page in (first, second, third) for row in page["results"]]
    assert len(seen) == len(set(seen)) == 5
    assert back["results"] == first["results"]
    invalid = client.get(f"{API}/chats/search/", {"q": "kubernetes", "cursor": "not-a-cursor"})
    assert_error(invalid, 404, "not_found")


def test_search_api_on_the_fallback_path(client, user):
    from unittest import mock

    from chat.selectors import chats as selectors

    _, by_message, _ = _search_fixture(user)

    with mock.patch.object(selectors.connection, "vendor", "sqlite"):
        response = client.get(f"{API}/chats/search/", {"q": "roll back"})

    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(by_message.id)]
    assert rows[0]["snippet"] == "How do I **roll back** a kubernetes deployment?"


@pytest.mark.parametrize("query", ["a & b", "'", "!!!", "(unclosed", "c++", "%_", "the"])
def test_search_survives_odd_queries(client, user, query):
    _search_fixture(user)

    response = client.get(f"{API}/chats/search/", {"q": query})

    assert response.status_code == 200
