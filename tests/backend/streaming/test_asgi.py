"""The streaming views' fast path: the same responses as Django's handler, without its request thread."""

from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIRequest

from backend import errors
from backend.streaming import http
from backend.streaming.asgi import _fast_path, with_streaming_fast_path
from backend.streaming.models import IdempotencyKey
from chat.models import Chat, Message
from chat.services.generation import engine
from chat.services.messages import request_fingerprint
from tests.appauth.token_memo import memoized, revoked_elsewhere
from tests.chat.factories import ChatFactory, turn
from tests.e2e.live import make_user
from tests.helpers import asgi_call, asgi_scope

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "/api/v1/chat/messages/"


def test_token_requests_to_streaming_views_take_the_fast_path_and_nothing_else_does():
    token = {"Authorization": "Token x"}

    assert _fast_path(asgi_scope(SEND, headers=token))
    assert _fast_path(asgi_scope("/api/v1/chat/messages/00000000-0000-0000-0000-000000000000/stream/", headers=token))
    assert not _fast_path(asgi_scope(SEND, headers={"Cookie": "sessionid=x"}))  # sessions keep Django's handler
    assert not _fast_path(asgi_scope("/api/v1/chat/chats/", method="GET", headers=token))  # a DRF view
    assert not _fast_path(asgi_scope("/no/such/path/", headers=token))


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("bad token", b'{"content": "hi"}'),
        ("invalid body", b'{"content": ""}'),
        ("not json", b"{"),
        ("foreign chat", b'{"content": "hi", "chat_id": "00000000-0000-0000-0000-000000000000"}'),
    ],
)
def test_errors_are_the_same_on_both_paths(case, body):
    _, token = make_user(f"asgi-{case.replace(' ', '-')}@example.com")
    headers = {
        "Authorization": "Token wrong" if case == "bad token" else f"Token {token}",
        "Content-Type": "application/json",
        "X-Request-ID": "request-0123456789",
    }
    django_application = get_asgi_application()

    fast = asgi_call(with_streaming_fast_path(django_application), asgi_scope(SEND, headers=headers), body)
    slow = asgi_call(django_application, asgi_scope(SEND, headers=headers), body)

    assert fast == slow
    status, response_headers, content = fast
    assert status in (400, 401, 404) and json.loads(content)["error"]["code"]
    assert response_headers["x-request-id"] == "request-0123456789"


def _executors_created(run) -> int:
    """Thread pools created while `run` runs (Django's per-request thread is one such pool)."""
    before = ThreadPoolExecutor._counter()  # type: ignore[attr-defined]
    run()
    return ThreadPoolExecutor._counter() - before - 1  # type: ignore[attr-defined]


def test_the_fast_path_starts_no_thread_per_request():
    _, token = make_user("asgi-threads@example.com")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    django_application = get_asgi_application()
    fast_application = with_streaming_fast_path(django_application)

    def five(application):
        def run():
            for _ in range(5):
                assert asgi_call(application, asgi_scope(SEND, headers=headers), b'{"content": ""}')[0] == 400

        return run

    five(fast_application)()  # warm: the database threads exist from now on

    assert _executors_created(five(fast_application)) == 0
    assert _executors_created(five(django_application)) >= 5  # one thread per request


def test_the_fast_path_resolves_each_path_once_and_each_request_gets_its_own_match(monkeypatch):
    from django.urls.resolvers import URLResolver

    from backend.streaming import asgi

    asgi._streaming_match.cache_clear()
    _, token = make_user("asgi-resolve@example.com")
    headers = {"Authorization": f"Token {token}"}
    walks: list[str] = []
    resolve = URLResolver.resolve

    def counting_resolve(self, path):
        if self.pattern.regex.pattern == "^/":  # the root resolver: one walk per resolution
            walks.append(path)
        return resolve(self, path)

    monkeypatch.setattr(URLResolver, "resolve", counting_resolve)
    fast_application = with_streaming_fast_path(get_asgi_application())
    paths = [f"/api/v1/chat/messages/00000000-0000-0000-0000-00000000000{n}/stop/" for n in (1, 1, 2)]
    for path in paths:
        status, _, content = asgi_call(fast_application, asgi_scope(path, headers=headers))
        assert (status, json.loads(content)["error"]["code"]) == (404, "message_not_found")  # the view ran, with its id

    assert walks == [paths[0], paths[2]]  # once per path: choosing the handler and serving share it

    handler = asgi.StreamingHandler()
    one, two = (handler.resolve_request(ASGIRequest(asgi_scope(paths[0]), io.BytesIO())) for _ in range(2))
    one.kwargs["message_id"] = "changed by a middleware"
    assert one is not two and str(two.kwargs["message_id"]).endswith("0001")
    assert str(asgi._streaming_match("aiassistant.urls", paths[0]).kwargs["message_id"]).endswith("0001")


# --- admission on a token this process verified lately -------------------------------------------------


def _post(token: str, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", **headers}
    return asgi_call(with_streaming_fast_path(get_asgi_application()), asgi_scope(SEND, headers=headers), body)


def _send(token: str, body: bytes, **headers: str) -> tuple[int, dict]:
    status, _, content = _post(token, body, **headers)
    return status, json.loads(content)


def test_a_verified_token_admits_the_next_message_from_memory_with_its_guard(monkeypatch):
    _, token = make_user("asgi-memo@example.com")
    assert _send(token, b'{"content": ""}')[0] == 400  # authenticated in full, then remembered
    assert memoized(token)
    guards = []

    def refuse(**kwargs):
        guards.append(kwargs["guard"])
        raise errors.RateLimited("stop before the turn", retry_after=1)

    monkeypatch.setattr(http, "authenticated_request", lambda request: pytest.fail("authenticated in full"))
    monkeypatch.setattr(engine, "admit", refuse)

    assert _send(token, b'{"content": "hi"}')[0] == 429  # the guard still holds: the refusal is answered
    assert len(guards) == 1 and guards[0] is not None


@pytest.mark.parametrize("deactivate", [False, True])
@pytest.mark.parametrize("body", [b'{"content": "hi"}', b'{"content": ""}', b"{"])
def test_a_token_revoked_elsewhere_sends_nothing_from_memory(deactivate, body):
    user, token = make_user(f"asgi-revoked-{deactivate}-{len(body)}@example.com")
    assert _send(token, b'{"content": ""}')[0] == 400
    assert memoized(token)

    revoked_elsewhere(token, deactivate=deactivate)
    status, error = _send(token, body)

    assert status == 401 and error["error"]["code"]  # not the body's 400: nothing but the 401
    assert not Chat.objects.filter(user=user).exists()
    assert not memoized(token)


def test_an_error_from_memory_is_answered_when_the_token_still_holds():
    _, token = make_user("asgi-memo-error@example.com")
    assert _send(token, b'{"content": ""}')[0] == 400
    status, error = _send(token, b'{"content": "hi", "chat_id": "00000000-0000-0000-0000-000000000000"}')

    assert (status, error["error"]["code"]) == (404, "chat_not_found")
    assert memoized(token)


def test_an_idempotency_key_is_never_replayed_from_memory():
    user, token = make_user("asgi-memo-key@example.com")
    answer = Message.objects.get(pair=turn(ChatFactory(user=user)), role="assistant")
    fingerprint = request_fingerprint({"content": "hi", "attachments": []})
    IdempotencyKey.objects.create(user=user, scope="chat", key="k1", request_hash=fingerprint, record_id=answer.id)
    replayed = _post(token, b'{"content": "hi"}', **{"Idempotency-Key": "k1"})
    assert replayed[0] == 200 and b"message_stop" in replayed[2]  # the earlier answer, replayed
    assert memoized(token)

    revoked_elsewhere(token)

    assert _send(token, b'{"content": "hi"}', **{"Idempotency-Key": "k1"})[0] == 401


def test_uploads_and_keyed_requests_are_never_admitted_from_memory_and_their_body_is_not_read():
    from django.test import RequestFactory

    factory = RequestFactory()
    upload = factory.post(SEND, data={"content": "hi", "files": io.BytesIO(b"x" * 10)})  # multipart
    keyed = factory.post(SEND, data=b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    plain = factory.post(SEND, data=b"{}", content_type="application/json")
    bare = factory.post(SEND, data=b"", content_type="")

    assert not http._memo_eligible(upload) and not hasattr(upload, "_body")
    assert not http._memo_eligible(keyed)
    assert http._memo_eligible(plain) and http._memo_eligible(bare)


def test_a_refused_message_is_answered_without_an_error_in_the_log(monkeypatch):
    from unittest import mock

    _, token = make_user("asgi-refused-log@example.com")
    get_asgi_application()  # Django configures logging when the application is built: patch after it
    logged = mock.Mock()
    monkeypatch.setattr(http.logger, "error", logged)

    status, error = _send(token, b'{"content": "hi", "chat_id": "not-a-uuid"}')

    assert (status, error["error"]["code"]) == (400, "invalid")
    assert not logged.called


def test_an_admission_that_fails_after_its_client_left_is_logged(monkeypatch):
    from unittest import mock

    started = asyncio.Event()
    logged = mock.Mock()
    monkeypatch.setattr(http.logger, "error", logged)

    def admit():
        raise RuntimeError("the database went away")

    async def slow_admit_and_launch(admit_function):
        started.set()
        await asyncio.sleep(0.05)
        admit_function()

    monkeypatch.setattr(engine, "admit_and_launch", slow_admit_and_launch)

    async def run():
        view = asyncio.ensure_future(http.start_response(engine, admit))
        await started.wait()
        view.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await view
        await asyncio.sleep(0.1)  # the shielded admission ends meanwhile

    asyncio.run(run())

    assert [call.args[0] for call in logged.call_args_list] == ["admission failed after its client left"]
