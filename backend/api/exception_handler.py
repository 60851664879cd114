"""One renderer for every error: `{"error": {"code", "message", "details"}}`.

DRF's own exceptions and Django's Http404/PermissionDenied are translated into the
`backend.errors` hierarchy first, so clients see one shape and one set of codes.
Anything else is left to Django's 500 handler (`backend.api.views.server_error`), which
renders the same shape: a 500 is a bug and is logged with its traceback.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from backend import errors


def error_payload(error: errors.ApplicationError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "details": error.details}}


def _first_message(detail: Any) -> str:
    """A human sentence from DRF's nested error detail (the first leaf message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def translate(exc: Exception) -> errors.ApplicationError | None:
    """Map a framework exception to the product's hierarchy; None if it is not an expected one."""
    if isinstance(exc, errors.ApplicationError):
        return exc
    if isinstance(exc, Http404):
        return errors.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return errors.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return errors.PayloadTooLarge()
    if database_unavailable(exc):
        return errors.DatabaseUnavailable()
    if isinstance(exc, DjangoValidationError):
        django_details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return errors.ValidationFailed(_first_message(django_details), details=django_details)
    if isinstance(exc, drf.ValidationError):
        drf_details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return errors.ValidationFailed(_first_message(drf_details), details=drf_detail_to_data(drf_details))
    if isinstance(exc, drf.Throttled):
        return errors.RateLimited(retry_after=int(getattr(exc, "wait", None) or 1))
    if isinstance(exc, drf.ParseError):
        return errors.MalformedRequest(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return errors.UnsupportedMediaType(str(exc.detail))
    if isinstance(exc, drf.MethodNotAllowed):
        return errors.MethodNotAllowed(str(exc.detail))
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return errors.NotAuthenticated(str(exc.detail))
    if isinstance(exc, drf.PermissionDenied):
        return errors.PermissionDenied(str(exc.detail))
    if isinstance(exc, drf.NotFound):
        return errors.NotFound(str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return errors.ApplicationError(str(exc.detail), code=errors.ErrorCode.NOT_ACCEPTABLE, status_code=406)
    if isinstance(exc, drf.APIException):
        return errors.ApplicationError(str(exc.detail), code=str(exc.default_code), status_code=exc.status_code)
    return None


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` is the database being unreachable or timing out (an outage, not a bug).

    Django wraps the driver's errors, including the connection pool's timeout, in these.
    """
    return isinstance(exc, (OperationalError, InterfaceError))


def drf_detail_to_data(detail: Any) -> Any:
    """ErrorDetail trees → plain JSON (strings), keeping their structure."""
    if isinstance(detail, dict):
        return {str(key): drf_detail_to_data(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [drf_detail_to_data(item) for item in detail]
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Returns None for unexpected exceptions so they reach the 500 handler."""
    error = translate(exc)
    if error is None:
        return None
    response = Response(error_payload(error), status=error.status_code)
    for name, value in error.headers().items():
        response[name] = value
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response
