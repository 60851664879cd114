"""What every API view does with its request: the validated input and the signed-in user.

- `validated(InputSerializer, request.data)` runs a serializer's validation and returns its
  data as a plain dict; a failure raises DRF's ValidationError, which the exception handler
  renders as 400 `invalid` with per-field `details`.
- `validated_query(QuerySerializer, request.query_params)` is the same for a query serializer
  of plain fields, computed once per distinct query string (the hottest reads).
- `request_user(request)` is the authenticated user, typed as the project's user model (the
  view's permission has already refused anonymous requests).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.http import QueryDict
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer

if TYPE_CHECKING:
    # A stub-only alias: django-stubs resolves it to AUTH_USER_MODEL, so backend names the
    # user model without importing the app that defines it.
    from django.contrib.auth.models import _User


def validated(serializer_class: type[BaseSerializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """`serializer_class(data=data, **kwargs)`'s validated data; raises ValidationError (400)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


_QUERY_MEMO_MAX_LENGTH = 512


@functools.lru_cache(maxsize=256)
def _validated_query(serializer_class: type[BaseSerializer], items: tuple[tuple[str, tuple[str, ...]], ...]) -> Any:
    return validated(
        serializer_class, QueryDict(urlencode([(name, value) for name, values in items for value in values]))
    )


def validated_query(serializer_class: type[BaseSerializer], params: QueryDict) -> dict[str, Any]:
    """`validated(serializer_class, params)` for a query serializer whose result depends on the query alone.

    Only for serializers of plain fields (types, bounds, defaults) that read no context, database
    or clock: the result of each distinct short query string is then computed once per process.
    A ValidationError is raised each time, never remembered.
    """
    items = tuple((name, tuple(values)) for name, values in params.lists())
    if sum(len(name) + sum(map(len, values)) for name, values in items) > _QUERY_MEMO_MAX_LENGTH:
        return validated(serializer_class, params)
    return dict(_validated_query(serializer_class, items))  # type: ignore[arg-type]  # a class is hashable


def request_user(request: Request) -> _User:
    """The signed-in user of a view whose permission requires authentication."""
    user = request.user
    assert isinstance(user, get_user_model()), "request_user() needs an authenticated request"
    return user
