"""Django's ASGI handler without the reference cycle it leaves behind every request.

Django's `ASGIHandler.handle` runs the view beside a task that waits for the client's
disconnect, which uvicorn reports once the response is complete: the task raises
`RequestAborted`, and `handle` re-raises it from `task.result()` and ignores it. The exception's
traceback then holds `handle`'s frame, whose locals hold the task, which holds the exception: a
reference cycle through the request, its body, the response and everything the view left on
them (for a sync view, its thread's database and cache wrappers too). Reference counting never
frees it; it waits for the garbage collector, whose collections it triggers (the collector
runs when the objects allocated outnumber those freed). Here the disconnect is a plain return,
which `handle` treats the same way: the request is freed when `handle` returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler

if TYPE_CHECKING:
    from backend.lifespan import Receive


class ASGIHandler(DjangoASGIHandler):
    async def listen_for_disconnect(self, receive: Receive) -> None:
        """Django's `listen_for_disconnect`, returning on the disconnect instead of raising."""
        message = await receive()
        if message["type"] != "http.disconnect":  # as Django's: never happens
            raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")


def get_asgi_application() -> ASGIHandler:
    """`django.core.asgi.get_asgi_application`, with the handler above."""
    django.setup(set_prefix=False)
    return ASGIHandler()
