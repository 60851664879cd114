"""Pages rendered by PostgreSQL equal the DRF serializers' pages, stay owner-scoped, and are never stale."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from chat.models import Chat, Message, MessagePair
from chat.selectors import pages
from chat.services import chats as chat_services
from tests.chat.factories import AttachmentFactory, ChatFactory, ProjectFactory, linear_chat, turn
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
API = "/api/v1/chat"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the database renders pages on PostgreSQL only")


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(user):
    api_client = APIClient()
    api_client.force_authenticate(user)
    return api_client


def _both(client, settings, path, params=None):
    """(database-rendered body, serializer-rendered body) of one GET; both must be 200."""
    settings.CHAT_SQL_PAGES = True
    fast = client.get(path, params or {})
    settings.CHAT_SQL_PAGES = False
    slow = client.get(path, params or {})
    settings.CHAT_SQL_PAGES = True
    assert (fast.status_code, slow.status_code) == (200, 200), (fast.content, slow.content)
    assert fast["Content-Type"] == slow["Content-Type"] == "application/json"
    return fast.json(), slow.json()


# --- the chat list -------------------------------------------------------------------------------


def _many_chats(user, count=7):
    project = ProjectFactory(user=user)
    base = timezone.now() - datetime.timedelta(days=1)
    chats = []
    for index in range(count):
        chat = ChatFactory(
            user=user,
            title=f'Chat «{index}» "quoted" \\ back',
            project=project if index % 2 else None,
            archived=index == 3,
            incognito=index == 4,
            last_message_preview="ünïcode ✓" if index == 1 else "",
            model="fast" if index == 2 else "",
        )
        # Two chats share an updated_at, so the cursor's offset within one position is exercised;
        # one has a whole second (no microseconds), which DRF renders without a fraction.
        stamp = base + datetime.timedelta(seconds=index // 2 * 10, microseconds=0 if index == 5 else 123456 + index)
        Chat.objects.filter(id=chat.id).update(updated_at=stamp)
        chats.append(chat)
    ChatFactory(title="someone else's")  # never listed
    return project, chats


@pytest.mark.parametrize("params", [{}, {"archived": "true"}, {"page_size": 2}, {"page_size": 3, "project": None}])
def test_chat_list_pages_equal_the_serializer_pages_following_every_link(client, user, settings, params):
    project, _ = _many_chats(user)
    if "project" in params:
        params = {**params, "project": str(project.id)}
    fast, slow = _both(client, settings, f"{API}/chats/", params)
    assert fast == slow
    seen = [chat["id"] for chat in fast["results"]]
    while fast["next"]:  # forwards to the end, then one step back: cursors are DRF's own
        fast, slow = _both(client, settings, fast["next"])
        assert fast == slow
        seen += [chat["id"] for chat in fast["results"]]
    if fast["previous"]:
        back_fast, back_slow = _both(client, settings, fast["previous"])
        assert back_fast == back_slow
    assert len(seen) == len(set(seen))
    assert seen


def test_chat_list_fields_and_types(client, user, settings):
    _many_chats(user, count=2)
    fast, _ = _both(client, settings, f"{API}/chats/")
    row = fast["results"][0]
    assert list(row) == [
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
    ]
    assert isinstance(row["archived"], bool) and row["updated_at"].endswith("Z")


def test_chat_list_forged_cursor_is_a_404_on_both_paths(client, user, settings):
    import base64

    _many_chats(user, count=2)
    forged = base64.b64encode(b"p=not-a-date&r=0&o=0").decode()
    for on in (True, False):
        settings.CHAT_SQL_PAGES = on
        response = client.get(f"{API}/chats/", {"cursor": forged})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


# --- the history page ----------------------------------------------------------------------------


def _rich_chat(user):
    """Versions (siblings with equal timestamps), a hidden turn, attachments, citations, tool calls, errors."""
    chat = ChatFactory(user=user)
    base = timezone.now() - datetime.timedelta(hours=1)
    root = turn(chat, user_text="hello 👋", created_at=base)
    tie = base + datetime.timedelta(seconds=1)
    versions = [turn(chat, root, user_text=f"version {n}", created_at=tie) for n in range(3)]  # same created_at
    middle = versions[1]
    child = turn(chat, middle, user_text="child", status=Message.Status.ERROR, created_at=base + datetime.timedelta(2))
    last = turn(chat, child, user_text="last", status=Message.Status.STREAMING, created_at=base + datetime.timedelta(3))
    MessagePair.objects.filter(id=child.id).update(hidden=True)
    AttachmentFactory(message=Message.objects.get(pair=root, role="user"), name="plan.txt")
    AttachmentFactory(message=Message.objects.get(pair=root, role="user"), name="more.txt")
    Message.objects.filter(pair=middle, role="assistant").update(
        citations=[
            {
                "index": 1,
                "chunk_id": 7,
                "knowledge_id": "0b9f5b9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                "title": "Doc",
                "section": "A > B",
                "text": "excerpt",
                "score": 0.75,
                "extra": "not rendered",
            }
        ],
        tool_calls=[
            {
                "call_id": "c1",
                "tool": "search",
                "kind": "read",
                "input": {"q": "x", "n": [1, 2]},
                "step": 0,
                "status": "ok",
                "is_error": False,
                "content": "{}",
                "result": "not rendered",
            }
        ],
        cost=Decimal("1.5"),
        completed_at=timezone.now(),
        error_message="",
    )
    Message.objects.filter(pair=child, role="assistant").update(error_code="throttled", error_message="Busy: «retry»")
    Chat.objects.filter(id=chat.id).update(active_leaf=last)
    chat.refresh_from_db()
    return chat, root, versions, child, last


@pytest.mark.parametrize(
    "params",
    [{}, {"page_size": 2}, {"page_size": 2, "before": 2}, {"before": 1}, {"before": 99}, {"before": 65323345986445}],
)
def test_history_pages_equal_the_serializer_pages(client, user, settings, params):
    chat, *_ = _rich_chat(user)
    fast, slow = _both(client, settings, f"{API}/chats/{chat.id}/messages/", params)
    assert fast == slow
    assert fast["results"] or params.get("before") == 0


def test_history_pages_equal_on_a_long_chat_following_previous_links(client, user, settings):
    chat, _ = linear_chat(turns=23, user=user)
    fast, slow = _both(client, settings, f"{API}/chats/{chat.id}/messages/", {"page_size": 10})
    pages_seen = 1
    while True:
        assert fast == slow
        if not fast["previous"]:
            break
        fast, slow = _both(client, settings, fast["previous"])
        pages_seen += 1
    assert pages_seen == 3 and fast["results"][0]["depth"] == 0


def test_an_empty_chat_has_an_empty_page(client, user, settings):
    chat = ChatFactory(user=user)
    fast, slow = _both(client, settings, f"{API}/chats/{chat.id}/messages/")
    assert fast == slow == {"previous": None, "next": None, "total": 0, "results": []}


def test_another_users_chat_is_a_404_even_with_bad_parameters(client, settings):
    foreign, _ = linear_chat(turns=2)
    settings.CHAT_SQL_PAGES = True
    for params in ({}, {"page_size": 0}):
        response = client.get(f"{API}/chats/{foreign.id}/messages/", params)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "chat_not_found"


def test_a_cached_page_costs_one_query(client, user, settings, django_assert_num_queries):
    chat, _ = linear_chat(turns=5, user=user)
    first = client.get(f"{API}/chats/{chat.id}/messages/").json()

    with django_assert_num_queries(1):  # the chat's version (also its owner check)
        again = client.get(f"{API}/chats/{chat.id}/messages/").json()

    assert again == first


def test_a_repeated_page_is_read_from_the_process_and_a_new_version_is_not(client, user, settings):
    from unittest import mock

    chat, pairs = linear_chat(turns=3, user=user)
    first = _page(client, chat)
    with mock.patch.object(pages.cache, "get", wraps=pages.cache.get) as shared_reads:
        assert _page(client, chat) == first
        assert shared_reads.call_count == 0  # the process's copy of the same version

        turn(chat, pairs[-1], user_text="one more")
        after = _assert_current(client, settings, chat)
        assert after["total"] == first["total"] + 1


def test_the_process_copy_of_pages_is_bounded_in_bytes():
    from backend.memo import LocalMemo

    memo = LocalMemo(800, size=lambda page: len(page.turns))

    def page(size):
        return pages.BranchPageJson(turns="x" * size, start=0, end=1, total=1, limit=50)

    for index in range(10):
        memo.put(f"k{index}", page(100))
    assert memo.get("k0") is None and memo.get("k9") is not None
    assert memo.size == 800 and len(memo) == 8
    memo.put("big", page(101))  # over an eighth of the bound: never kept
    assert memo.get("big") is None
    memo.get("k2")  # read last, so it outlives the ones after it
    memo.put("k10", page(100))
    assert memo.get("k2") is not None and memo.get("k3") is None


# --- the cache is never stale --------------------------------------------------------------------


def _page(client, chat):
    return client.get(f"{API}/chats/{chat.id}/messages/").json()


def _assert_current(client, settings, chat):
    fast, slow = _both(client, settings, f"{API}/chats/{chat.id}/messages/")
    assert fast == slow
    return fast


def test_a_new_turn_shows_at_once(client, user, settings):
    chat, pairs = linear_chat(turns=3, user=user)
    _page(client, chat)
    turn(chat, pairs[-1], user_text="a new question")
    assert _assert_current(client, settings, chat)["results"][-1]["user"]["text"] == "a new question"


def test_an_edit_and_a_branch_switch_show_at_once(client, user, settings):
    chat, pairs = linear_chat(turns=3, user=user)
    _page(client, chat)
    edited = turn(chat, pairs[0], user_text="edited")  # a new version of the second turn
    body = _assert_current(client, settings, chat)
    assert body["results"][-1]["user"]["text"] == "edited"
    chat_services.pair_switch(pair=pairs[1])  # back to the first version
    body = _assert_current(client, settings, chat)
    assert body["results"][1]["pair_id"] == str(pairs[1].id)
    assert (body["results"][1]["sibling_count"], body["results"][1]["sibling_index"]) == (2, 0)
    assert edited.id != pairs[1].id


def test_a_delete_a_hide_and_an_answer_update_show_at_once(client, user, settings):
    chat, pairs = linear_chat(turns=4, user=user)
    _page(client, chat)
    chat_services.pair_set_hidden(pair=pairs[0], hidden=True)
    assert _assert_current(client, settings, chat)["results"][0]["hidden"] is True
    Message.objects.filter(pair=pairs[1], role="assistant").update(text="checkpointed text", status="streaming")
    assert _assert_current(client, settings, chat)["results"][1]["assistant"]["text"] == "checkpointed text"
    chat_services.pair_delete(pair=MessagePair.objects.get(id=pairs[2].id))
    body = _assert_current(client, settings, chat)
    assert [turn["pair_id"] for turn in body["results"]] == [str(pairs[0].id), str(pairs[1].id)]


def test_an_attachment_change_shows_at_once_and_urls_are_signed_per_request(client, user, settings):
    chat, pairs = linear_chat(turns=2, user=user)
    _page(client, chat)
    AttachmentFactory(message=Message.objects.get(pair=pairs[0], role="user"), name="late.txt")
    body = _assert_current(client, settings, chat)
    [attachment] = body["results"][0]["user"]["attachments"]
    assert attachment["name"] == "late.txt" and attachment["download_url"].startswith("http://testserver/")


def test_saving_a_stale_chat_never_takes_its_version_back(user):
    chat, pairs = linear_chat(turns=1, user=user)
    stale = Chat.objects.get(id=chat.id)
    before = pages.chat_history_version(chat_id=chat.id)
    turn(chat, pairs[0])
    raised = pages.chat_history_version(chat_id=chat.id)
    stale.title = "renamed"
    stale.save()  # writes every column, the old history_version among them

    assert raised > before
    assert pages.chat_history_version(chat_id=chat.id) >= raised


def test_history_links_follow_the_script_prefix_of_each_request():
    """The messages path is remembered per chat, script prefix and URL configuration."""
    import uuid

    from django.test import RequestFactory
    from django.urls import set_script_prefix
    from rest_framework.request import Request

    from chat.apis import chats

    chat_id, request = uuid.uuid4(), Request(RequestFactory().get("/"))
    path = f"{API}/chats/{chat_id}/messages/?before=2&page_size=1"
    try:
        assert chats._branch_url(request, chat_id, 2, 1) == f"http://testserver{path}"
        set_script_prefix("/mounted/")
        assert chats._branch_url(request, chat_id, 2, 1) == f"http://testserver/mounted{path}"
    finally:
        set_script_prefix("/")
    assert chats._branch_url(request, chat_id, 2, 1) == f"http://testserver{path}"


def test_a_page_knows_whether_it_holds_attachments_from_its_own_json(user):
    import json as jsonlib

    chat, pairs = linear_chat(turns=2, user=user)
    chat.refresh_from_db()
    text = 'a message that quotes "download_url" : "x" in its text'
    Message.objects.filter(pair=pairs[0], role="user").update(text=text)
    page = pages.branch_page_json(user_id=user.pk, chat_id=chat.id)
    assert not page.has_attachments  # the quoted key inside a string is escaped, never a match
    assert jsonlib.loads(page.turns)[0]["user"]["text"] == text

    AttachmentFactory(message=Message.objects.get(pair=pairs[1], role="user"), name="plan.txt")
    page = pages.branch_page_json(user_id=user.pk, chat_id=chat.id)
    assert page.has_attachments
    assert pages._ATTACHMENT_KEY.search('{"download_url": "jsonb spacing"}')  # a needless pass at worst


# --- planned once -------------------------------------------------------------------------------


def _plans(fragment: str) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{fragment}%"]
        )
        [(generic, custom)] = cursor.fetchall()
    return generic, custom


def test_the_hot_statements_are_planned_once_per_connection_not_on_every_run(user, settings):
    """A prepared statement is planned anew on every run while PostgreSQL finds its generic plan
    costlier than a custom one: with `LIMIT $n`, or a partial index's predicate as parameters,
    it always did. After PostgreSQL's five custom plans, these statements run on their generic plan."""
    from chat.services.generation import ChatAdapter

    settings.CHAT_HISTORY_CACHE_SECONDS = 0  # every page read runs the page statement
    chat, _ = linear_chat(turns=3, user=user)
    for _ in range(8):
        pages.chat_list_rows(user_id=user.id)[0:21]
        ChatAdapter().running_count(user=user)
        pages.branch_page_json(user_id=user.id, chat_id=chat.id, limit=50)
    for fragment in ("FROM chat_chat c WHERE c.user_id", 'FROM "chat_message" WHERE "user_id"', "WITH RECURSIVE"):
        generic, custom = _plans(fragment)
        assert generic >= 1 and custom <= 5, fragment
