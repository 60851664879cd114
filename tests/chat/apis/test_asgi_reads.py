"""The chat list and history page answered in front of Django: the same answers as Django gives."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from aiassistant.asgi import django_application
from appauth.authentication import TokenAuthentication
from appauth.services.audit import ClientInfo
from appauth.services.tokens import token_create, token_revoke_all
from chat.apis import asgi_reads
from chat.models import Message
from tests.appauth.token_memo import memoized, revoked_elsewhere
from tests.chat.factories import AttachmentFactory, ChatFactory, linear_chat, turn
from tests.factories import UserFactory

# The page is read on the database threads: the rows must be committed.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
REQUEST_ID = b"test-request-0001"


@pytest.fixture(autouse=True)
def _postgresql_only(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the fast reads serve database-rendered pages (PostgreSQL)")
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def owner():
    user = UserFactory()
    _, token = token_create(user=user, client=ClientInfo(ip="127.0.0.1", user_agent="tests"))
    return user, token


def _call(app: Any, path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-request-id", REQUEST_ID), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected until the answer is sent
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], sorted(start["headers"]), body


def _compare(path: str, token: str, query: bytes = b"", extra: list[tuple[bytes, bytes]] | None = None):
    """(answered in front of Django?, fast answer, Django's answer) of one request."""
    served = []
    original = asgi_reads._serve_async

    async def spy(*args: Any) -> Any:
        response = await original(*args)
        served.append(response is not None)
        return response

    headers = [(b"authorization", f"Token {token}".encode()), *(extra or [])]
    with mock.patch.object(asgi_reads, "_serve_async", spy):
        fast = _call(asgi_reads.with_fast_reads(django_application), path, query, headers)
    slow = _call(django_application, path, query, headers)
    return served == [True], fast, slow


def _assert_same(fast, slow):
    assert fast[0] == slow[0]
    assert fast[1] == slow[1], repr((fast[1], slow[1]))  # every header, the request id echoed by both
    assert json.loads(fast[2]) == json.loads(slow[2])


def test_the_chat_list_is_answered_in_front_of_django_as_django_answers_it(owner):
    user, token = owner
    for index in range(25):
        ChatFactory(user=user, title=f"chat {index}")
    ChatFactory(title="someone else's")

    served, fast, slow = _compare("/api/v1/chat/chats/", token)
    assert served
    _assert_same(fast, slow)
    body = json.loads(fast[2])
    assert len(body["results"]) == 20 and body["next"]

    cursor = body["next"].split("?", 1)[1].encode()
    served, fast, slow = _compare("/api/v1/chat/chats/", token, cursor)
    assert served
    _assert_same(fast, slow)
    assert len(json.loads(fast[2])["results"]) == 5


def test_the_history_page_is_answered_in_front_of_django_as_django_answers_it(owner):
    user, token = owner
    chat, pairs = linear_chat(turns=12, user=user)
    turn(chat, pairs[3], user_text="another version")
    AttachmentFactory(message=Message.objects.get(pair=pairs[10], role="user"), name="plan.txt")
    chat.refresh_from_db()

    for query in (b"", b"page_size=3&before=4", b"page_size=5"):
        served, fast, slow = _compare(f"/api/v1/chat/chats/{chat.id}/messages/", token, query)
        assert served
        _assert_same(fast, slow)


@pytest.mark.parametrize(
    ("query", "status"),
    [(b"page_size=0", 400), (b"before=-1", 400), (b"page_size=abc", 400)],
)
def test_bad_parameters_are_answered_by_django(owner, query, status):
    user, token = owner
    chat, _ = linear_chat(turns=2, user=user)
    served, fast, slow = _compare(f"/api/v1/chat/chats/{chat.id}/messages/", token, query)
    assert not served
    assert fast[0] == slow[0] == status
    assert json.loads(fast[2])["error"]["code"] == "invalid"


def test_another_users_chat_and_a_forged_cursor_are_404s_from_django(owner):
    _, token = owner
    foreign, _ = linear_chat(turns=2)
    served, fast, _ = _compare(f"/api/v1/chat/chats/{foreign.id}/messages/", token)
    assert not served and fast[0] == 404
    assert json.loads(fast[2])["error"]["code"] == "chat_not_found"

    served, fast, _ = _compare("/api/v1/chat/chats/", token, b"cursor=cD1ub3QtYS1kYXRl")
    assert not served and fast[0] == 404


def test_a_revoked_token_is_refused_at_once(owner):
    user, token = owner
    ChatFactory(user=user)
    served, fast, _ = _compare("/api/v1/chat/chats/", token)
    assert served and fast[0] == 200  # the token is now cached

    token_revoke_all(user=user)

    served, fast, slow = _compare("/api/v1/chat/chats/", token)
    assert not served
    assert fast[0] == slow[0] == 401


def test_cross_origin_and_session_requests_go_through_django(owner, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    user, token = owner
    ChatFactory(user=user)
    served, fast, _ = _compare("/api/v1/chat/chats/", token, extra=[(b"origin", b"https://app.example.com")])
    assert not served and fast[0] == 200
    assert (b"access-control-allow-origin", b"https://app.example.com") in fast[1]

    status, _, _ = _call(asgi_reads.with_fast_reads(django_application), "/api/v1/chat/chats/")
    assert status == 401  # no credentials: Django's answer


@pytest.mark.parametrize(
    ("accept", "fast"),
    [(b"application/json", True), (b"*/*", True), (b"application/json; q=0.9, text/html", True), (b"text/html", False)],
)
def test_only_clients_that_accept_json_are_answered_in_front_of_django(owner, accept, fast):
    user, token = owner
    ChatFactory(user=user)
    served, answer, django_answer = _compare("/api/v1/chat/chats/", token, extra=[(b"accept", accept)])
    assert served is fast
    assert answer[0] == django_answer[0]  # 200, or DRF's 406 for HTML


def test_a_format_override_is_answered_by_django(owner):
    user, token = owner
    ChatFactory(user=user)
    served, answer, django_answer = _compare("/api/v1/chat/chats/", token, b"format=json")
    assert not served and answer[0] == django_answer[0]


@pytest.mark.parametrize("chats", [2, 0])
def test_a_token_revoked_by_another_process_reads_no_list_from_the_memo(owner, chats):
    user, token = owner
    for _ in range(chats):
        ChatFactory(user=user)
    served, fast, _ = _compare("/api/v1/chat/chats/", token)
    assert served and fast[0] == 200
    assert memoized(token)  # the next read trusts this process's memo, checked by the page's statement

    revoked_elsewhere(token)

    served, fast, slow = _compare("/api/v1/chat/chats/", token)
    assert not served  # the guard failed (or the empty list was checked): Django answers
    assert fast[0] == slow[0] == 401
    assert not memoized(token)


@pytest.mark.parametrize("cached", [True, False])
def test_a_user_deactivated_by_another_process_reads_no_history_from_the_memo(owner, settings, cached):
    settings.CHAT_HISTORY_CACHE_SECONDS = 60 if cached else 0
    user, token = owner
    chat, _ = linear_chat(turns=3, user=user)
    path = f"/api/v1/chat/chats/{chat.id}/messages/"
    served, fast, _ = _compare(path, token)
    assert served and fast[0] == 200 and memoized(token)
    served, fast, _ = _compare(path, token)
    assert served and fast[0] == 200  # from the memo

    revoked_elsewhere(token, deactivate=True)

    served, fast, slow = _compare(path, token)
    assert not served
    assert fast[0] == slow[0] == 401


def test_a_repeated_authorization_header_is_never_read_from_the_memo(owner):
    user, token = owner
    ChatFactory(user=user)
    served, fast, _ = _compare("/api/v1/chat/chats/", token)
    assert served and fast[0] == 200 and memoized(token)

    twice = [(b"authorization", f"Token {token}".encode())]
    served, fast, slow = _compare("/api/v1/chat/chats/", token, extra=twice)
    assert fast[0] == slow[0] == 401  # Django joins the two headers, which Knox refuses


def test_the_memo_is_used_only_when_token_authentication_comes_first(owner, settings):
    user, token = owner
    ChatFactory(user=user)
    served, fast, _ = _compare("/api/v1/chat/chats/", token)
    assert served and fast[0] == 200 and memoized(token)
    revoked_elsewhere(token)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.SessionAuthentication",
            "appauth.authentication.TokenAuthentication",
        ],
    }

    with mock.patch.object(TokenAuthentication, "memoized", side_effect=AssertionError("the memo was consulted")):
        served, fast, slow = _compare("/api/v1/chat/chats/", token)
    assert not served and fast[0] == slow[0] == 401  # DRF's classes, in their configured order, refuse it
