"""The product's one exception hierarchy.

Services raise these; `backend.api.exception_handler` renders every one of them as
`{"error": {"code": ..., "message": ..., "details": {...}}}` with the class's HTTP status.
`code` values are a stable public contract: clients branch on them, so never rename one.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base of every expected failure. Subclasses fix `code` and `status_code`."""

    code: str = "error"
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
    code = "invalid"
    status_code = 400
    default_message = "The request is invalid."


class MalformedRequest(ApplicationError):
    code = "malformed_request"
    status_code = 400
    default_message = "The request body could not be parsed."


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status_code = 401
    default_message = "Authentication credentials were not provided or are invalid."


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = 403
    default_message = "You do not have permission to perform this action."


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class MethodNotAllowed(ApplicationError):
    code = "method_not_allowed"
    status_code = 405
    default_message = "Method not allowed."


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(ApplicationError):
    code = "payload_too_large"
    status_code = 413
    default_message = "The request body is too large."


class HeadersTooLarge(ApplicationError):
    code = "headers_too_large"
    status_code = 431
    default_message = "The request headers are too large."


class UnsupportedMediaType(ApplicationError):
    code = "unsupported_media_type"
    status_code = 415
    default_message = "Unsupported media type."


class RateLimited(ApplicationError):
    code = "rate_limited"
    status_code = 429
    default_message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        details = {"retry_after": self.retry_after, **(kwargs.pop("details", None) or {})}
        super().__init__(message, details=details, **kwargs)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamError(ApplicationError):
    """A dependency (the model provider, storage) failed in a way the client may retry."""

    code = "upstream_error"
    status_code = 502
    default_message = "An upstream service failed."


class ServiceUnavailable(ApplicationError):
    code = "service_unavailable"
    status_code = 503
    default_message = "The service is temporarily unavailable."


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down or out of connections: the client may retry shortly."""

    default_message = "The database is temporarily unavailable. Try again shortly."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class InternalError(ApplicationError):
    """Only for the 500 handler: an unexpected exception is always a bug."""

    code = "internal_error"
    status_code = 500
    default_message = "An unexpected error occurred. It has been logged."
