"""Request-scoped middleware, async-capable so streaming views never hop threads for it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from backend.logging import request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Takes a well-formed `X-Request-ID` from the proxy or makes one; echoes it on the response.

    The id is put in a context variable that every log line carries.
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
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware chain
        # returns, and those lines must carry the id too. The next request sets its own.
        request_id = self._request_id(request)
        request_id_var.set(request_id)
        response: HttpResponseBase = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id = self._request_id(request)
        request_id_var.set(request_id)
        response: HttpResponseBase = await self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _request_id(request: HttpRequest) -> str:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id
