"""The streaming views served without Django's per-request thread.

Django's ASGI handler runs every request inside a `ThreadSensitiveContext` and sends
`request_started` / `request_finished` through `sync_to_async`: each request starts a thread,
hops to it twice for receivers that have nothing to do there (they reset the query log and
close the connections of *that* thread), then joins it. For a streaming view that is most of
the framework's cost before the first byte: the views of `backend.streaming.http` are async,
and their database work runs on the database threads (`backend.db`), never on a
request thread.

`with_streaming_fast_path(django_application)` sends the requests of token clients whose view
is such a view (`documented(...)` marks them `asgi_fast_path`) to `StreamingHandler`: Django's
own handler, with the same middleware chain, URL patterns, view, error handling and response,
minus the per-request thread, and with each path resolved once (the match is cached). The
signal receivers still run, inline (they do no I/O). Every other request goes to Django's
handler unchanged — sync views need their thread-sensitive context.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import get_script_prefix
from django.http import HttpRequest
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix

from backend.asgi_handler import ASGIHandler
from backend.lifespan import ASGIApp, Receive, Scope, Send

PATH_CACHE = 2048


class StreamingHandler(ASGIHandler):
    """Django's ASGI handler without the per-request thread (see the module docstring).

    The disconnect ends `listen_for_disconnect` without an exception (`backend.asgi_handler`).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Django's ASGIHandler.handle, line for line, except that the request signals are sent
        # (and the response closed) inline rather than through sync_to_async.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            body_file.close()
            await self.send_response(error_response, send)
            error_response.close()
            return

        async def process_request(request: Any, send: Send) -> Any:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client went away during the send
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            signals.request_finished.send(sender=self.__class__)
        else:
            response.close()  # sends request_finished
        body_file.close()

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """The match `with_streaming_fast_path` resolved to choose this handler, not a second walk.

        Resolving walks the URL patterns in order (~0.1 ms for the API's streaming paths); the
        match is cached per path, and each request gets its own copy (its kwargs included, which
        middleware may change). A middleware that set `request.urlconf` resolves as Django does.
        """
        if not hasattr(request, "urlconf"):
            cached = _streaming_match(settings.ROOT_URLCONF, request.path_info)
            if cached is not None:
                parts: dict[str, Any] = {  # ResolverMatch cannot be copied (it refuses pickling)
                    "url_name": cached.url_name,
                    "app_names": cached.app_names,
                    "namespaces": cached.namespaces,
                    "route": cached.route,
                    "captured_kwargs": dict(getattr(cached, "captured_kwargs", None) or {}),
                    "extra_kwargs": dict(getattr(cached, "extra_kwargs", None) or {}),
                }
                match = ResolverMatch(cached.func, cached.args, dict(cached.kwargs), **parts)
                request.resolver_match = match
                return match
        return super().resolve_request(request)

    async def send_response(self, response: Any, send: Send) -> None:
        """Django's `send_response`; an async stream's parts go out without its two per-part layers.

        Django consumes a stream through `response.__aiter__` (an async generator around
        `streaming_content`, itself a generator around the view's iterator) and `chunk_bytes`;
        here `streaming_content` is read directly, split only when a part exceeds `chunk_size`.
        Headers, cookies, the closing message and the iterator's closing are Django's.
        """
        if not (response.streaming and response.is_async):
            await super().send_response(response, send)
            return
        headers = [
            (bytes(name.encode("ascii") if isinstance(name, str) else name), value.encode("latin1"))
            if isinstance(value, str)
            else (bytes(name.encode("ascii") if isinstance(name, str) else name), bytes(value))
            for name, value in response.items()
        ]
        headers += [(b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        size = self.chunk_size
        async with contextlib.aclosing(response.streaming_content) as content:
            async for part in content:
                for start in range(0, len(part), size) if len(part) > size else (0,):
                    await send({"type": "http.response.body", "body": part[start : start + size], "more_body": True})
        await send({"type": "http.response.body"})


@functools.lru_cache(maxsize=PATH_CACHE)
def _streaming_match(urlconf: str, path: str) -> ResolverMatch | None:
    """`path`'s match when it names a streaming view, resolved once per path (see `resolve_request`)."""
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return None
    return match if getattr(match.func, "asgi_fast_path", False) else None


def _fast_path(scope: Scope) -> bool:
    """A request for a streaming view from a token client.

    Session (cookie) clients stay on Django's handler: their session is saved on a
    thread-sensitive thread, which is what the per-request context is for.
    """
    if scope["type"] != "http" or not any(name == b"authorization" for name, _ in scope.get("headers", ())):
        return False
    return _streaming_match(settings.ROOT_URLCONF, scope["path"]) is not None


def with_streaming_fast_path(application: ASGIApp) -> ASGIApp:
    """Route the requests of the streaming views to `StreamingHandler`, the rest to `application`."""
    handler: StreamingHandler | None = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal handler
        if _fast_path(scope):
            if handler is None:
                handler = StreamingHandler()
            await handler(scope, receive, send)
            return
        await application(scope, receive, send)

    return app
