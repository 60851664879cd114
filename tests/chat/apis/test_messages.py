"""The active-branch messages page and the turn (pair) endpoints: siblings, switch, toggle, delete."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from chat.models import Chat, Message, MessagePair
from tests.chat.factories import AttachmentFactory, ChatFactory, linear_chat, turn
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"


def _branching_chat(user):
    """root → (v1, v2, v3 of the second turn); v2 has a child; v3 is active."""
    chat = ChatFactory(user=user)
    base = timezone.now() - datetime.timedelta(hours=1)
    root = turn(chat, user_text="hi", created_at=base)
    v1 = turn(chat, root, user_text="v1", created_at=base + datetime.timedelta(seconds=1))
    v2 = turn(chat, root, user_text="v2", created_at=base + datetime.timedelta(seconds=2))
    v2_child = turn(chat, v2, user_text="v2 child", created_at=base + datetime.timedelta(seconds=3))
    v3 = turn(chat, root, user_text="v3", created_at=base + datetime.timedelta(seconds=4))
    chat.refresh_from_db()
    return chat, root, v1, v2, v2_child, v3


# --- messages page ------------------------------------------------------------------------------


def test_messages_render_the_active_branch_with_sibling_positions(client, user):
    chat, root, _, _, _, v3 = _branching_chat(user)
    AttachmentFactory(message=Message.objects.get(pair=root, role="user"), name="plan.txt")

    response = client.get(f"{API}/chats/{chat.id}/messages/")

    assert response.status_code == 200
    body = response.json()
    assert (body["previous"], body["next"], body["total"]) == (None, None, 2)
    first, second = body["results"]
    assert first["pair_id"] == str(root.id)
    assert (first["sibling_count"], first["sibling_index"]) == (1, 0)
    assert [a["name"] for a in first["user"]["attachments"]] == ["plan.txt"]
    download = first["user"]["attachments"][0]["download_url"]
    assert download.startswith("http://testserver/") and download.endswith(".txt")  # a thumbnail needs no extra call
    assert second["pair_id"] == str(v3.id)
    assert (second["sibling_count"], second["sibling_index"]) == (3, 2)
    assert second["user"]["text"] == "v3"
    assert set(second["assistant"]) == {
        "id",
        "status",
        "text",
        "model_alias",
        "model_id",
        "stop_reason",
        "error_code",
        "error_message",
        "usage",
        "knowledge_mode",
        "citations",
        "tool_calls",
        "created_at",
        "completed_at",
    }
    assert second["assistant"]["usage"] == {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost": "0.000330",
    }


def test_messages_of_an_empty_chat(client, user):
    chat = ChatFactory(user=user)

    body = client.get(f"{API}/chats/{chat.id}/messages/").json()

    assert body == {"previous": None, "next": None, "total": 0, "results": []}


def test_messages_newest_page_first_then_previous(client, user):
    chat, _pairs = linear_chat(turns=7, user=user)

    newest = client.get(f"{API}/chats/{chat.id}/messages/", {"page_size": 3}).json()
    older = client.get(newest["previous"]).json()
    oldest = client.get(older["previous"]).json()

    assert [row["depth"] for row in newest["results"]] == [4, 5, 6]
    assert [row["depth"] for row in older["results"]] == [1, 2, 3]
    assert [row["depth"] for row in oldest["results"]] == [0]
    assert oldest["previous"] is None
    assert newest["next"] is None
    assert older["next"].endswith("before=7&page_size=3")


@pytest.mark.parametrize("query", [{"page_size": 0}, {"page_size": 201}, {"before": -1}, {"before": "x"}])
def test_messages_reject_bad_paging(client, user, query):
    chat = ChatFactory(user=user)

    response = client.get(f"{API}/chats/{chat.id}/messages/", query)

    assert_error(response, 400, "invalid")


@pytest.mark.parametrize("sql_pages", [True, False])
@pytest.mark.parametrize("turns", [5, 25])
def test_messages_query_count_does_not_grow_with_the_page(
    client, user, turns, sql_pages, settings, django_assert_num_queries
):
    settings.CHAT_SQL_PAGES = sql_pages
    chat, pairs = linear_chat(turns=turns, user=user)
    for pair in pairs:
        AttachmentFactory(message=Message.objects.get(pair=pair, role="user"))

    # PostgreSQL renders the page: the chat's version (the cache check), the page. The ORM path:
    # chat, branch ids, pairs, messages, attachments, siblings.
    with django_assert_num_queries(2 if sql_pages and connection.vendor == "postgresql" else 6):
        response = client.get(f"{API}/chats/{chat.id}/messages/", {"page_size": 200})

    results = response.json()["results"]
    assert len(results) == turns
    assert all(turn["user"]["attachments"][0]["download_url"].startswith("http") for turn in results)


# --- siblings / switch / toggle / delete -----------------------------------------------------


def test_siblings_lists_the_versions_of_a_turn(client, user):
    _chat, _root, v1, v2, _, v3 = _branching_chat(user)

    response = client.get(f"{API}/pairs/{v2.id}/siblings/")

    assert response.status_code == 200
    rows = response.json()
    assert [row["pair_id"] for row in rows] == [str(v1.id), str(v2.id), str(v3.id)]
    assert [row["index"] for row in rows] == [0, 1, 2]
    assert [row["active"] for row in rows] == [False, False, True]
    assert rows[0]["user_text"] == "v1"
    assert rows[0]["assistant_status"] == "complete"


def test_switch_lands_on_the_newest_leaf_of_the_branch(client, user):
    chat, root, _, v2, v2_child, _ = _branching_chat(user)

    response = client.post(f"{API}/pairs/{v2.id}/switch/")

    assert response.status_code == 200
    assert [row["pair_id"] for row in response.json()["results"]] == [str(root.id), str(v2.id), str(v2_child.id)]
    chat.refresh_from_db()
    assert chat.active_leaf_id == v2_child.id


def test_toggle_flips_or_sets_hidden(client, user):
    _chat, pairs = linear_chat(turns=1, user=user)
    url = f"{API}/pairs/{pairs[0].id}/toggle/"

    flipped = client.post(url, {}, format="json").json()
    kept = client.post(url, {"hidden": True}, format="json").json()
    shown = client.post(url, {"hidden": False}, format="json").json()

    assert flipped == {"pair_id": str(pairs[0].id), "hidden": True}
    assert kept["hidden"] is True
    assert shown["hidden"] is False
    assert client.post(url, {"hidden": "sometimes"}, format="json").status_code == 400


def test_hidden_turns_are_marked_in_the_page(client, user):
    chat, pairs = linear_chat(turns=2, user=user)
    client.post(f"{API}/pairs/{pairs[0].id}/toggle/")

    rows = client.get(f"{API}/chats/{chat.id}/messages/").json()["results"]

    assert [row["hidden"] for row in rows] == [True, False]


def test_delete_active_version_lands_on_newest_remaining_version(client, user):
    chat, _root, _v1, _v2, v2_child, v3 = _branching_chat(user)

    response = client.delete(f"{API}/pairs/{v3.id}/")

    assert response.status_code == 204
    chat.refresh_from_db()
    assert chat.active_leaf_id == v2_child.id
    assert not MessagePair.objects.filter(id=v3.id).exists()


def test_delete_subtree_with_active_leaf_moves_to_parent(client, user):
    chat, pairs = linear_chat(turns=4, user=user)

    client.delete(f"{API}/pairs/{pairs[2].id}/")

    chat.refresh_from_db()
    assert chat.active_leaf_id == pairs[1].id
    assert list(MessagePair.objects.filter(chat=chat).order_by("depth").values_list("id", flat=True)) == [
        pairs[0].id,
        pairs[1].id,
    ]


def test_delete_outside_the_active_branch_keeps_the_active_leaf(client, user):
    chat, _root, _v1, v2, v2_child, v3 = _branching_chat(user)

    client.delete(f"{API}/pairs/{v2.id}/")

    chat.refresh_from_db()
    assert chat.active_leaf_id == v3.id
    assert not MessagePair.objects.filter(id=v2_child.id).exists()


def test_delete_the_only_root_empties_the_chat(client, user):
    chat, pairs = linear_chat(turns=2, user=user)

    client.delete(f"{API}/pairs/{pairs[0].id}/")

    chat.refresh_from_db()
    assert chat.active_leaf_id is None
    assert not MessagePair.objects.filter(chat=chat).exists()


def test_delete_refuses_while_an_answer_streams(client, user):
    chat = ChatFactory(user=user)
    streaming = turn(chat, status=Message.Status.STREAMING)

    response = client.delete(f"{API}/pairs/{streaming.id}/")

    assert_error(response, 409, "generation_in_progress")
    assert Chat.objects.get(id=chat.id).active_leaf_id == streaming.id


@pytest.mark.parametrize("versions", [5, 25])
def test_siblings_query_count_does_not_grow_with_versions(client, user, versions, django_assert_num_queries):
    chat = ChatFactory(user=user)
    root = turn(chat)
    base = timezone.now() - datetime.timedelta(hours=1)
    last = [turn(chat, root, created_at=base + datetime.timedelta(seconds=n)) for n in range(versions)][-1]

    with django_assert_num_queries(4):  # pair, versions, their messages, active branch
        response = client.get(f"{API}/pairs/{last.id}/siblings/")

    assert len(response.json()) == versions
