"""Pagination. Every growing collection answers one shape: `{"next", "previous", "results"}`.

`next`/`previous` are URLs carrying an opaque `cursor` (null at either end): clients follow
them and never build one.

- `CursorPagination` / `DefaultCursorPagination`: constant-time pages at any depth (keyset on
  an indexed ordering). A cursor is client data: its position is checked against the ordering
  field's type before it reaches a query, so a forged one (`p=abc` on an integer or date
  ordering, a NUL byte) is a 404 `not_found` ("Invalid cursor"), never a 500.
- `RecentlyUpdatedFirstPagination`, `NewestFirstPagination` and `OldestFirstPagination`: the
  orderings the apps' lists use (by `updated_at` or `created_at`, the id breaking ties).
- `RankedCursorPagination`: the same shape over results ranked by relevance, which no keyset
  can follow: the cursor then encodes a position in the ranking.
- `PaginatedApi`: an `APIView` whose `paginated()` renders one page of a queryset.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, Model, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from backend import errors


class CursorPagination(pagination.CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        # A queryset, or a row source that names its model (e.g. rows the database renders).
        model = queryset.model if isinstance(queryset, QuerySet) else getattr(queryset, "model", None)
        self._model = model if isinstance(model, type) and issubclass(model, Model) else None
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        position = str(cursor.position)  # DRF types it loosely; it is the decoded query string value
        if "\x00" in position or not self._position_fits(position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def _position_fits(self, position: str) -> bool:
        """Whether the ordering field can hold `position` (a value it would compare against)."""
        if self._model is None:
            return True
        ordering = self.ordering if isinstance(self.ordering, (list, tuple)) else [self.ordering]
        try:
            field = self._model._meta.get_field(str(ordering[0]).lstrip("-"))
        except FieldDoesNotExist:
            return True
        if not isinstance(field, Field):  # a reverse relation: nothing to check against
            return True
        try:
            field.to_python(position)
        except (ValidationError, ValueError, TypeError, OverflowError):
            return False
        return True


class DefaultCursorPagination(CursorPagination):
    ordering = "-created_at"


class RecentlyUpdatedFirstPagination(CursorPagination):
    ordering = ("-updated_at", "-id")


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class OldestFirstPagination(CursorPagination):
    ordering = ("created_at", "id")


class RankedCursorPagination(BasePagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.size = self._page_size(request)
        self.offset = self._decode(request.query_params.get(self.cursor_query_param))
        rows = list(queryset[self.offset : self.offset + self.size + 1])
        self.has_next = len(rows) > self.size
        return rows[: self.size]

    def get_paginated_response(self, data: Sequence[Any]) -> Response:
        previous = None
        if self.offset > 0:
            previous = self._link(max(self.offset - self.size, 0))
        following = self._link(self.offset + self.size) if self.has_next else None
        return Response({"next": following, "previous": previous, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor value (from `next` or `previous`).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Number of results to return per page (at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]

    def _page_size(self, request: Request) -> int:
        try:
            size = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except ValueError:
            size = self.page_size
        return min(max(size, 1), self.max_page_size)

    def _link(self, offset: int) -> str:
        url = self.request.build_absolute_uri()
        if offset == 0:
            return remove_query_param(url, self.cursor_query_param)
        cursor = base64.urlsafe_b64encode(urlencode({"o": offset}).encode()).decode().rstrip("=")
        return replace_query_param(url, self.cursor_query_param, cursor)

    @staticmethod
    def _decode(cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            name, _, value = decoded.partition("=")
            offset = int(value)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise errors.NotFound("Invalid cursor.") from None
        if name != "o" or offset < 0:
            raise errors.NotFound("Invalid cursor.")
        return offset


# A list view. (No docstring: drf-spectacular would publish it as every operation's description.)
# `pagination_class` also tells the OpenAPI schema the page shape.
class PaginatedApi(APIView):
    pagination_class: type[BasePagination] = RecentlyUpdatedFirstPagination

    def paginated(
        self,
        request: Request,
        queryset: QuerySet[Any] | Sequence[Any],
        serializer_class: type[BaseSerializer],
        **context: Any,
    ) -> Response:
        """One page of `queryset` rendered by `serializer_class` (with `request` and `context`)."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = serializer_class(page, many=True, context={"request": request, **context}).data
        return paginator.get_paginated_response(data)
