"""A request is freed when its response is done, not left in a reference cycle for the collector.

Objects in a cycle are freed only by the garbage collector, whose collections their
allocation triggers; a request drags its headers, body, session, user and response with it.
Each test serves requests as uvicorn does (the disconnect reported once the response is
complete) with the collector saving what it would free, then looks for the request there.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.test import RequestFactory

from backend import middleware
from backend.asgi_handler import ASGIHandler
from backend.llm import service
from backend.streaming.asgi import with_streaming_fast_path
from tests.e2e.live import make_user
from tests.helpers import asgi_scope


@contextmanager
def cyclic_garbage() -> Iterator[list[str]]:
    """The type names of the objects made in the block that only the collector would free."""
    gc.collect()
    found: list[str] = []
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found.extend(type(obj).__name__ for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def served(application: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    """Serve one request as uvicorn does: `http.disconnect` once the response is complete.

    The model clients made on this request's event loop are closed with it, as the server's
    shutdown hook closes them (otherwise the collector finalizes them, warning of an unclosed session).
    """

    async def run() -> tuple[int, bytes]:
        complete = asyncio.Event()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []
        parts: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            else:
                parts.append(message.get("body", b""))
                if not message.get("more_body"):
                    complete.set()

        await application(scope, receive, send)
        await service.aclose_clients()
        return status[0], b"".join(parts)

    return asyncio.run(run())


def test_the_detector_sees_the_cycle_djangos_own_handler_leaves():
    """Django's handler re-raises the disconnect's `RequestAborted`, whose traceback holds the request."""
    with cyclic_garbage() as garbage:
        assert served(DjangoASGIHandler(), asgi_scope("/healthz", method="GET"))[0] == 200

    assert "ASGIRequest" in garbage and "RequestAborted" in garbage


def test_a_request_through_the_projects_handler_is_freed_with_its_response():
    with cyclic_garbage() as garbage:
        assert served(ASGIHandler(), asgi_scope("/healthz", method="GET"))[0] == 200

    assert "ASGIRequest" not in garbage and "RequestAborted" not in garbage


@pytest.mark.django_db(transaction=True)
def test_a_streamed_answer_leaves_no_request_behind():
    _, token = make_user("cycles-stream@example.com")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    application = with_streaming_fast_path(ASGIHandler())
    scope = asgi_scope("/api/v1/chat/messages/", headers=headers)
    served(application, scope, b'{"content": "warm up"}')  # the first one authenticates in full

    with cyclic_garbage() as garbage:
        status, body = served(application, scope, b'{"content": "hello"}')

    assert status == 200 and b"event: message_stop" in body
    assert not {"ASGIRequest", "RequestAborted", "SimpleLazyObject"} & set(garbage), sorted(set(garbage))


def _request_through_the_middleware() -> weakref.ref[Any]:
    """A weak reference to a request whose lazy user was read, once nothing else holds it."""
    request = RequestFactory().get("/")
    request.session = SessionStore()
    middleware.AuthenticationMiddleware(lambda r: None).process_request(request)
    middleware.MessageMiddleware(lambda r: None).process_request(request)

    assert not request.user.is_authenticated  # evaluated against its request
    assert asyncio.run(request.auser()).is_anonymous  # type: ignore[attr-defined]
    return weakref.ref(request)


def test_the_lazy_user_and_messages_hold_their_request_weakly():
    gc.disable()  # only reference counting frees it
    try:
        assert _request_through_the_middleware()() is None
    finally:
        gc.enable()


def test_the_lazy_messages_are_built_for_their_request():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    middleware.MessageMiddleware(lambda r: None).process_request(request)

    assert request._messages.request is request  # type: ignore[attr-defined]


def test_a_lazy_user_kept_after_its_request_is_freed_says_so():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    middleware.AuthenticationMiddleware(lambda r: None).process_request(request)
    user = request.user
    del request

    with pytest.raises(RuntimeError, match="was freed"):
        user.is_authenticated  # noqa: B018 - evaluates the lazy object


def test_the_authentication_middleware_still_requires_sessions():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        middleware.AuthenticationMiddleware(lambda r: None).process_request(RequestFactory().get("/"))
