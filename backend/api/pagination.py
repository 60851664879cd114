"""Cursor pagination: constant-time pages at any depth (keyset on an indexed ordering).

Every cursor-paginated list uses `CursorPagination` from here (directly or through
`DefaultCursorPagination`). A cursor is client data: its position is checked against the
ordering field's type before it reaches a query, so a forged one (`p=abc` on an integer or
date ordering, a NUL byte) is a 404 `not_found` ("Invalid cursor"), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, Model, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request


class CursorPagination(pagination.CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self._model = queryset.model if isinstance(queryset, QuerySet) else None
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
