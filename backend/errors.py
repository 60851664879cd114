"""The product's one exception hierarchy, and the registry of the error codes backend raises.

Services raise these; `backend.api.exception_handler` renders every one of them as
`{"error": {"code": ..., "message": ..., "details": {...}}}` with the class's HTTP status.
`code` values are a stable public contract: clients branch on them, so never rename one.

Every code is a member of a registry, never a string literal at a raise site: `ErrorCode`
here for the shared ones, and one `ErrorCode` in each app's `<app>/errors.py` for the app's
own (`published_error_codes()` finds them all). docs/error-codes.md lists every published code;
a test fails when one of them leaves its registry.
"""

from __future__ import annotations

import enum
from importlib import import_module
from importlib.util import find_spec
from typing import Any


class ErrorCode(enum.StrEnum):
    """The shared codes: the request's shape, authentication, limits, outages; streaming; the LLM."""

    ERROR = "error"
    INVALID = "invalid"
    MALFORMED_REQUEST = "malformed_request"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    HEADERS_TOO_LARGE = "headers_too_large"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    NOT_READY = "not_ready"
    # Streaming (backend.streaming)
    INVALID_TICKET = "invalid_ticket"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    TOO_MANY_GENERATIONS = "too_many_generations"
    SHUTTING_DOWN = "shutting_down"
    # The LLM layer (backend.llm): a model alias, and a failed call by its kind
    UNKNOWN_MODEL = "unknown_model"
    LLM_THROTTLED = "llm_throttled"
    LLM_UNAVAILABLE = "llm_unavailable"
    LLM_TIMEOUT = "llm_timeout"
    LLM_MODEL_ERROR = "llm_model_error"
    LLM_CLIENT_ERROR = "llm_client_error"
    LLM_TRUNCATED = "llm_truncated"
    # Google sign-in (backend.google_identity)
    INVALID_GOOGLE_TOKEN = "invalid_google_token"  # noqa: S105 - an error code
    GOOGLE_UNAVAILABLE = "google_unavailable"
    GOOGLE_NOT_CONFIGURED = "google_not_configured"

    # Monthly budgets (402)
    BUDGET_EXHAUSTED = "budget_exhausted"


def published_error_codes() -> dict[str, list[str]]:
    """Every registry of error codes, by owner: `backend`, then each installed app with an
    `ErrorCode` in its `errors` module (found as Django's admin finds `admin` modules)."""
    from django.apps import apps

    registries: dict[str, list[str]] = {"backend": [str(code) for code in ErrorCode]}
    for app in apps.get_app_configs():
        if app.name.startswith("backend") or find_spec(app.name) is None or find_spec(f"{app.name}.errors") is None:
            continue
        registry = getattr(import_module(f"{app.name}.errors"), "ErrorCode", None)
        if registry is not None:
            registries[app.label] = [str(code) for code in registry]
    return registries


class ApplicationError(Exception):
    """Base of every expected failure. Subclasses fix `code` and `status_code`."""

    code: str = ErrorCode.ERROR
    status_code: int = 400
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details: dict[str, Any] = details or {}
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers this error implies (e.g. Retry-After)."""
        return {}


class ValidationFailed(ApplicationError):
    code: str = ErrorCode.INVALID
    status_code = 400
    default_message = "The request is invalid."


class MalformedRequest(ApplicationError):
    code: str = ErrorCode.MALFORMED_REQUEST
    status_code = 400
    default_message = "The request body could not be parsed."


class NotAuthenticated(ApplicationError):
    code: str = ErrorCode.NOT_AUTHENTICATED
    status_code = 401
    default_message = "Authentication credentials were not provided or are invalid."


class PermissionDenied(ApplicationError):
    code: str = ErrorCode.PERMISSION_DENIED
    status_code = 403
    default_message = "You do not have permission to perform this action."


class NotFound(ApplicationError):
    code: str = ErrorCode.NOT_FOUND
    status_code = 404
    default_message = "Not found."


class MethodNotAllowed(ApplicationError):
    code: str = ErrorCode.METHOD_NOT_ALLOWED
    status_code = 405
    default_message = "Method not allowed."


class Conflict(ApplicationError):
    code: str = ErrorCode.CONFLICT
    status_code = 409
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(ApplicationError):
    code: str = ErrorCode.PAYLOAD_TOO_LARGE
    status_code = 413
    default_message = "The request body is too large."


class HeadersTooLarge(ApplicationError):
    code: str = ErrorCode.HEADERS_TOO_LARGE
    status_code = 431
    default_message = "The request headers are too large."


class UnsupportedMediaType(ApplicationError):
    code: str = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status_code = 415
    default_message = "Unsupported media type."


class RateLimited(ApplicationError):
    code: str = ErrorCode.RATE_LIMITED
    status_code = 429
    default_message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        details = {"retry_after": self.retry_after, **(kwargs.pop("details", None) or {})}
        super().__init__(message, details=details, **kwargs)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(ApplicationError):
    code: str = ErrorCode.SERVICE_UNAVAILABLE
    status_code = 503
    default_message = "The service is temporarily unavailable."


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down or out of connections: the client may retry shortly."""

    default_message = "The database is temporarily unavailable. Try again shortly."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class InternalError(ApplicationError):
    """Only for the 500 handler: an unexpected exception is always a bug."""

    code: str = ErrorCode.INTERNAL_ERROR
    status_code = 500
    default_message = "An unexpected error occurred. It has been logged."
