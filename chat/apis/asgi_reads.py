"""The chat list and history page served in front of Django's request machinery (ASGI).

Django's handler, its middleware chain and DRF's dispatch cost more CPU per request than the
database-rendered pages themselves, which caps a worker at a few hundred reads per second. This
ASGI wrapper answers `GET /api/v1/chat/chats/` and `GET /api/v1/chat/chats/{id}/messages/` for
token-authenticated clients directly, with the same parts the API uses, not copies of them:

- authentication: `backend.streaming.http.remembered_request` (DRF's authentication classes:
  the cached Knox token lookup, revocation included); a token this process verified lately is
  trusted from its memo (`memo_authenticator().memoized_request`, as the streaming admission
  does), with the token row and its user re-checked inside the page's own statement, so a
  revoked token reads nothing;
- parameters, cursors and bodies: `chat.apis.chats.chat_list_json` / `history_json`, which the
  DRF views serve too (same serializers for validation, DRF's cursor paginator, same selectors);
- response headers: the configured middleware (`settings.MIDDLEWARE`, run synchronously around
  the ready response) and the headers DRF's view would add.

Anything else goes to Django unchanged and is answered there, errors in their one shape
included: another auth scheme or none (sessions, CSRF), a cross-origin request (CORS headers),
an `Accept` or `?format=` that asks for something else than JSON, any error (401, 400, 404),
a non-PostgreSQL database, `CHAT_SQL_PAGES` off.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.module_loading import import_string
from rest_framework.request import Request
from rest_framework.views import APIView

from appauth.models import AppUser
from backend.db import db_call
from backend.streaming.http import memo_authenticator, remembered_request
from chat.apis import chats

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

# The paths of `chat-list` and `chat-messages`, with Django's `<uuid:...>` pattern.
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ROUTE = re.compile(rf"^/api/v1/chat/chats/(?:(?P<chat>{_UUID})/messages/)?$")


@functools.cache
def _middleware() -> Callable[[HttpRequest], HttpResponseBase]:
    """The configured middleware (`settings.MIDDLEWARE`) around a view that returns the ready response.

    Run synchronously, as Django runs it under WSGI: every middleware adds its headers (request id,
    `no-store`, security, CORS `Vary`, frame options, Content-Length) or answers itself (a redirect).
    """

    def view(request: HttpRequest) -> HttpResponseBase:
        return request._fast_read_response  # type: ignore[attr-defined]

    handler: Callable[[HttpRequest], HttpResponseBase] = view
    for path in reversed(settings.MIDDLEWARE):
        handler = import_string(path)(handler)
    return handler


# An `Accept` that DRF's negotiation answers with JSON (absent counts as `*/*`).
_JSON_ACCEPT = re.compile(rb"(?:^|,)\s*(?:\*/\*|application/\*|application/json)\s*(?:;|,|$)", re.IGNORECASE)


def _eligible(scope: Scope) -> bool:
    """A token client's plain JSON GET: no CORS, no `?format=`, an `Accept` that JSON answers."""
    if scope.get("root_path") or b"format=" in scope.get("query_string", b""):
        return False
    auth = origin = False
    accept = True
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            auth = value[:6].lower() == b"token "
        elif name == b"origin":
            origin = True
        elif name == b"accept":
            accept = _JSON_ACCEPT.search(value) is not None
    return auth and accept and not origin


def _respond(request: HttpRequest, body: str, view_class: type[APIView]) -> HttpResponseBase:
    """The response Django would send for `body` from `view_class`."""
    response = chats.json_response(body)
    view = view_class()
    view.setup(request)  # as `as_view()` does (HEAD answers like GET)
    for name, value in view.default_response_headers.items():  # DRF's Allow (and Vary with 2+ renderers)
        response[name] = value
    request._fast_read_response = response  # type: ignore[attr-defined]
    return _middleware()(request)


def _serve(scope: Scope, chat_id: str | None) -> HttpResponseBase | None:
    """The page for this request, or None to let Django answer it (sync: runs on a database thread).

    A token this process verified lately is trusted from memory, with its validity checked by
    the page's own statement (`memo_authenticator().memoized_request`, as the streaming
    admission does); otherwise DRF's classes authenticate the request, and the pair is
    remembered for the next one.
    """
    if not chats.sql_pages():
        return None
    request = ASGIRequest(scope, io.BytesIO())
    authenticator = memo_authenticator()
    memoized = authenticator.memoized_request(request) if authenticator is not None else None
    try:
        if memoized is not None:
            user, guard = memoized
            drf_request = Request(request)
        else:
            drf_request, guard = remembered_request(request), None
            authenticated = drf_request.user
            assert isinstance(authenticated, AppUser)
            user = authenticated
        if chat_id is None:
            return _respond(request, chats.chat_list_json(drf_request, user, guard), chats.ChatListApi)
        return _respond(request, chats.history_json(drf_request, user, UUID(chat_id), guard), chats.ChatMessagesApi)
    except Exception:  # any refusal or failure is answered by Django, in the API's error shape
        logger.debug("fast read handed to Django", exc_info=True)
        if authenticator is not None and memoized is not None:
            authenticator.forget_request(request)  # the guard may have failed: the next request checks it all
        return None


async def _serve_async(scope: Scope, chat_id: str | None) -> HttpResponseBase | None:
    return await db_call(_serve, scope, chat_id)


async def _send(send: Callable[[Any], Awaitable[None]], response: HttpResponseBase) -> None:
    assert isinstance(response, HttpResponse)
    headers = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


def with_fast_reads(app: ASGIApp) -> ASGIApp:
    """`app` with the two hot reads answered before Django (see the module docstring)."""

    async def application(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and _eligible(scope):
            match = _ROUTE.match(scope.get("path", ""))
            if match is not None:
                response = await _serve_async(scope, match.group("chat"))
                if response is not None:
                    await _send(send, response)
                    return
        await app(scope, receive, send)

    return application
