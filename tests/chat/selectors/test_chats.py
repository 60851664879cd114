"""Chat selectors: lookups, the branch page and its cursors, search (PostgreSQL and the fallback)."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from django.utils import timezone

from backend.errors import NotFound
from chat.selectors import chats as selectors
from tests.chat.factories import ChatFactory, linear_chat, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_chat_get_hides_other_users_chats():
    chat = ChatFactory()

    with pytest.raises(NotFound) as raised:
        selectors.chat_get(user=UserFactory(), chat_id=chat.id)

    assert raised.value.code == "chat_not_found"


@pytest.mark.parametrize(
    ("before", "limit", "depths", "previous", "next_"),
    [
        (None, 4, [6, 7, 8, 9], 6, None),
        (6, 4, [2, 3, 4, 5], 2, 10),
        (2, 4, [0, 1], None, 6),
        (None, 50, list(range(10)), None, None),
        (0, 4, [], None, 4),
        (99, 3, [7, 8, 9], 7, None),
    ],
)
def test_branch_page_cursors(before, limit, depths, previous, next_):
    chat, _ = linear_chat(turns=10)

    page = selectors.branch_page(chat=chat, before=before, limit=limit)

    assert [turn.pair.depth for turn in page.turns] == depths
    assert (page.previous_before, page.next_before) == (previous, next_)


def test_sibling_positions_for_roots_and_children():
    chat = ChatFactory()
    base = timezone.now() - datetime.timedelta(hours=1)
    root_a = turn(chat, created_at=base)
    turn(chat, created_at=base + datetime.timedelta(seconds=1))  # a second root version
    child = turn(chat, root_a, created_at=base + datetime.timedelta(seconds=2))
    from chat.models import Chat

    Chat.objects.filter(id=chat.id).update(active_leaf=child)
    chat.refresh_from_db()

    turns = selectors.branch_page(chat=chat).turns

    assert [(t.sibling_count, t.sibling_index) for t in turns] == [(2, 0), (1, 0)]


def _search_data(user):
    titled = ChatFactory(user=user, title="Budget for Lisbon")
    messaged = ChatFactory(user=user, title="Untitled")
    turn(messaged, user_text="What is a good budget for a week?", assistant_text="About 900 euros.")
    ChatFactory(user=user, title="Other")
    ChatFactory(title="Budget of someone else")
    return titled, messaged


def test_search_fallback_matches_titles_and_messages_case_insensitively():
    user = UserFactory()
    titled, messaged = _search_data(user)

    with mock.patch.object(selectors.connection, "vendor", "sqlite"):
        results = list(selectors.chat_search(user=user, query="BUDGET"))

    assert {chat.id for chat in results} == {titled.id, messaged.id}
    snippets = {chat.id: selectors.chat_search_snippet(chat=chat, query="BUDGET") for chat in results}
    assert snippets[titled.id] == "**Budget** for Lisbon"
    assert snippets[messaged.id] == "What is a good **budget** for a week?"


@pytest.mark.postgres
def test_search_on_postgres_ranks_and_highlights():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL full-text search")
    user = UserFactory()
    titled, messaged = _search_data(user)

    results = list(selectors.chat_search(user=user, query="budgets"))

    assert [chat.id for chat in results] == [titled.id, messaged.id]
    assert "**budget**" in selectors.chat_search_snippet(chat=results[1], query="budgets")


@pytest.mark.postgres
def test_search_on_postgres_understands_websearch_syntax():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL full-text search")
    user = UserFactory()
    _titled, messaged = _search_data(user)

    results = list(selectors.chat_search(user=user, query="budget -lisbon"))

    assert [chat.id for chat in results] == [messaged.id]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short", "short"),
        ("a" * 100 + "needle" + "b" * 100, "…" + "a" * 80 + "**needle**" + "b" * 80 + "…"),
        ("no match here", "no match here"),
    ],
)
def test_search_snippet_windows(text, expected):
    assert selectors.search_snippet(text=text, query="needle") == expected
