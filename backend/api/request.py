"""What every API view does with its request: the validated input and the signed-in user.

- `validated(InputSerializer, request.data)` runs a serializer's validation and returns its
  data as a plain dict; a failure raises DRF's ValidationError, which the exception handler
  renders as 400 `invalid` with per-field `details`.
- `request_user(request)` is the authenticated user, typed as the project's user model (the
  view's permission has already refused anonymous requests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
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


def request_user(request: Request) -> _User:
    """The signed-in user of a view whose permission requires authentication."""
    user = request.user
    assert isinstance(user, get_user_model()), "request_user() needs an authenticated request"
    return user
