"""Request-scoped middleware, async-capable so streaming views never hop threads for it."""

from __future__ import annotations

import functools
import re
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.functional import SimpleLazyObject, empty
from whitenoise.middleware import WhiteNoiseMiddleware

from backend.logging import request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class _SyncAndAsync:
    """A middleware that runs in the server's mode (no thread hop under ASGI): `before`, the view, `after`.

    `before` and `after` must do no I/O: under ASGI they run on the event loop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        self.before(request)
        return self.after(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        self.before(request)
        return self.after(request, await self.get_response(request))

    def before(self, request: HttpRequest) -> None:
        pass

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response


class RequestIdMiddleware(_SyncAndAsync):
    """Takes a well-formed `X-Request-ID` from the proxy or makes one; echoes it on the response.

    The id is put in a context variable that every log line carries. It is not reset on the
    way out: Django logs 4xx/5xx responses after the middleware chain returns, and those lines
    must carry the id too. The next request sets its own.
    """

    def before(self, request: HttpRequest) -> None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request_id_var.set(request_id)

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class NoStoreMiddleware(_SyncAndAsync):
    """`Cache-Control: no-store` on every API response (tokens, profiles, chats are personal).

    Added to whatever the view set (an SSE answer's `no-cache` becomes `no-cache, no-store`), so
    no browser, proxy or CDN keeps a copy. Other paths (admin, previews) set their own policy.
    """

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path.startswith("/api/"):
            current = response.get("Cache-Control", "")
            if "no-store" not in current:
                response["Cache-Control"] = f"{current}, no-store" if current else "no-store"
        return response


# --- Django's stock middleware without a thread hop per hook ------------------------------------------
#
# Under ASGI, Django runs every hook of a MiddlewareMixin middleware through
# `sync_to_async(thread_sensitive=True)`: two thread hops per middleware per request, which
# measured ~20 ms of the time to first token of a streamed answer. The hooks below do no I/O
# (headers, redirects, CSRF token checks, a lazy user), so they run inline on the event loop;
# the session and messages hooks hop to a thread only when the request actually used them.


class _InlineHooks:
    """`__acall__` that runs `process_request` / `process_response` inline (they must do no I/O)."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        hooks: Any = self  # a MiddlewareMixin: get_response is async when __acall__ runs
        response = None
        if hasattr(hooks, "process_request"):
            response = hooks.process_request(request)
        response = response or await hooks.get_response(request)
        if hasattr(hooks, "process_response"):
            response = hooks.process_response(request, response)
        return response


class SecurityMiddleware(_InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(_InlineHooks, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(_InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(_InlineHooks, auth_middleware.AuthenticationMiddleware):
    """Sets a lazy `request.user` (and `request.auser`): nothing is read until a view asks.

    Django's middleware closes over the request (`lambda: get_user(request)`), a reference
    cycle that keeps every request for the garbage collector; these hold it weakly
    (`_RequestRef`), so the request is freed when its handler lets go of it.
    """

    def process_request(self, request: HttpRequest) -> None:
        if not hasattr(request, "session"):
            super().process_request(request)  # Django's ImproperlyConfigured
        request_ref = _RequestRef(request)
        request.user = SimpleLazyObject(functools.partial(_lazy_user, request_ref))  # type: ignore[assignment]
        request.auser = functools.partial(_lazy_auser, request_ref)


class _RequestRef:
    """A weak reference to a request, called by the lazy attributes set on it while it is served."""

    __slots__ = ("_ref",)

    def __init__(self, request: HttpRequest) -> None:
        self._ref = weakref.ref(request)

    def __call__(self) -> HttpRequest:
        request = self._ref()
        if request is None:  # only reachable by keeping a lazy attribute after dropping its request
            raise RuntimeError("the request this lazy attribute belongs to was freed")
        return request


def _lazy_user(request_ref: _RequestRef) -> Any:
    return auth_middleware.get_user(request_ref())


async def _lazy_auser(request_ref: _RequestRef) -> Any:
    return await auth_middleware.auser(request_ref())


class CsrfViewMiddleware(_InlineHooks, csrf.CsrfViewMiddleware):
    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        # A coroutine, so the handler awaits it instead of hopping to a thread; the check itself
        # reads only the request (its body is already in memory under ASGI).
        return super().process_view(request, callback, callback_args, callback_kwargs)


class SessionMiddleware(sessions_middleware.SessionMiddleware):
    """The session store is lazy; only a request that touched its session pays the thread hop."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        response = await self.get_response(request)  # type: ignore[misc]  # async in __acall__
        session = request.session
        if session.accessed or session.modified:
            return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Message storage is built when a request first uses it (the admin), not for every API call;
    only a request that used messages pays the thread hop to save them.

    Building it (a cookie signer and a session storage behind a fallback) was ~40 µs of every
    request's CPU, measured in process.
    """

    def process_request(self, request: HttpRequest) -> None:
        # a weak reference to the request, as `AuthenticationMiddleware` (no cycle per request)
        lazy_storage = functools.partial(_lazy_storage, _RequestRef(request))
        request._messages = SimpleLazyObject(lazy_storage)  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not _messages_built(request):
            return response  # nothing was read or added: nothing to save
        return super().process_response(request, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        response = await self.get_response(request)  # type: ignore[misc]  # async in __acall__
        if _messages_built(request):
            storage = request._messages  # type: ignore[attr-defined]
            if storage.used or storage.added_new:
                return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


def _lazy_storage(request_ref: _RequestRef) -> Any:
    return default_storage(request_ref())


def _messages_built(request: HttpRequest) -> bool:
    """Whether this request's message storage exists (it was used), or was set by someone else."""
    storage = getattr(request, "_messages", None)
    if storage is None:
        return False
    return not isinstance(storage, SimpleLazyObject) or storage._wrapped is not empty


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's static files (hashed names, gzip/brotli, far-future caching), async-capable.

    WhiteNoise's own middleware is sync-only: under ASGI every request, static or not, would hop
    to a thread for it. Here the lookup (a dict hit, or a file-system check when DEBUG
    auto-refreshes) runs inline; only a static file's read goes to a thread, and it is sent as
    one body (admin and Swagger assets are small) instead of a synchronous file iterator.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is None:
            response: HttpResponseBase = await self.get_response(request)
            return response
        return await sync_to_async(self._read, thread_sensitive=False)(static_file, request)

    @staticmethod
    def _read(static_file: Any, request: HttpRequest) -> HttpResponse:
        answer = static_file.get_response(request.method, request.META)
        body = b""
        if answer.file is not None:
            with answer.file:
                body = answer.file.read()
        response = HttpResponse(body, status=int(answer.status))
        del response["Content-Type"]
        for key, value in answer.headers:
            response[key] = value
        return response
