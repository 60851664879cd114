"""The failure taxonomy of model calls and the mapping from every botocore/urllib3/aiohttp shape into it.

Why our own taxonomy: botocore reports the same condition in several shapes (a modeled
`ThrottlingException` before the stream, an `EventStreamError` with code
`throttlingException` inside it, a raw urllib3 `ReadTimeoutError` when the stream stalls,
nothing at all when it ends early). Fallback decisions need one answer per condition.
"""

from __future__ import annotations

import asyncio
import enum
from decimal import Decimal
from typing import Any

from botocore import exceptions as boto_exc
from botocore.parsers import ResponseParserError

from backend.errors import ApplicationError
from backend.llm.types import Usage


class FailureKind(enum.StrEnum):
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    MODEL_ERROR = "model_error"
    CLIENT_ERROR = "client_error"
    TRUNCATED = "truncated"


# Kinds after which the next model in the chain is tried (only before any content was produced).
FALLBACK_KINDS = frozenset(
    {FailureKind.THROTTLED, FailureKind.UNAVAILABLE, FailureKind.TIMEOUT, FailureKind.MODEL_ERROR}
)

_HTTP_STATUS = {
    FailureKind.THROTTLED: 429,
    FailureKind.UNAVAILABLE: 503,
    FailureKind.TIMEOUT: 504,
    FailureKind.MODEL_ERROR: 502,
    FailureKind.CLIENT_ERROR: 400,
    FailureKind.TRUNCATED: 502,
}

_MESSAGES = {
    FailureKind.THROTTLED: "The model is receiving too many requests. Try again shortly.",
    FailureKind.UNAVAILABLE: "The model service is unavailable. Try again shortly.",
    FailureKind.TIMEOUT: "The model did not answer in time.",
    FailureKind.MODEL_ERROR: "The model failed while answering.",
    FailureKind.CLIENT_ERROR: "The model refused the request.",
    FailureKind.TRUNCATED: "The model's answer was cut off.",
}

# Modeled error codes (HTTP responses) and stream exception members (lower camel).
_CODE_KINDS = {
    "ThrottlingException": FailureKind.THROTTLED,
    "throttlingException": FailureKind.THROTTLED,
    "ServiceQuotaExceededException": FailureKind.THROTTLED,
    "TooManyRequestsException": FailureKind.THROTTLED,
    "ModelNotReadyException": FailureKind.UNAVAILABLE,
    "ServiceUnavailableException": FailureKind.UNAVAILABLE,
    "serviceUnavailableException": FailureKind.UNAVAILABLE,
    "InternalServerException": FailureKind.UNAVAILABLE,
    "internalServerException": FailureKind.UNAVAILABLE,
    "ModelTimeoutException": FailureKind.TIMEOUT,
    "ModelErrorException": FailureKind.MODEL_ERROR,
    "modelStreamErrorException": FailureKind.MODEL_ERROR,
    "ModelStreamErrorException": FailureKind.MODEL_ERROR,
    "ValidationException": FailureKind.CLIENT_ERROR,
    "validationException": FailureKind.CLIENT_ERROR,
    "AccessDeniedException": FailureKind.CLIENT_ERROR,
    "ResourceNotFoundException": FailureKind.CLIENT_ERROR,
    "UnrecognizedClientException": FailureKind.CLIENT_ERROR,
}


class LLMError(ApplicationError):
    """A model call failed. `kind` drives fallback; `code` is the stable public code (`llm_<kind>`)."""

    def __init__(
        self,
        kind: FailureKind,
        *,
        model_id: str | None = None,
        provider_code: str | None = None,
        detail: str = "",
        after_content: bool = False,
        partial_text: str = "",
        attempts: list[dict[str, Any]] | None = None,
    ) -> None:
        self.kind = kind
        self.model_id = model_id
        self.provider_code = provider_code
        self.detail = detail
        self.after_content = after_content
        self.partial_text = partial_text
        self.attempts = attempts or []
        # What the failed call was billed (set by the LLM layer when it records the call).
        self.usage: Usage = Usage()
        self.cost: Decimal = Decimal(0)
        super().__init__(
            _MESSAGES[kind],
            code=f"llm_{kind.value}",
            status_code=_HTTP_STATUS[kind],
            details={"model": model_id, "provider_code": provider_code, "retryable": self.retryable},
        )

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if the user simply retries."""
        return self.kind is not FailureKind.CLIENT_ERROR

    @property
    def allows_fallback(self) -> bool:
        return self.kind in FALLBACK_KINDS and not self.after_content

    def __repr__(self) -> str:
        return f"LLMError({self.kind.value}, model={self.model_id}, code={self.provider_code}, detail={self.detail!r})"


def _kind_for_status(status: int) -> FailureKind:
    if status == 429:
        return FailureKind.THROTTLED
    if status == 408:
        return FailureKind.TIMEOUT
    if status == 424:
        return FailureKind.MODEL_ERROR
    if status >= 500:
        return FailureKind.UNAVAILABLE
    return FailureKind.CLIENT_ERROR


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, boto_exc.ReadTimeoutError)):
        return True
    try:
        from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout
    except ImportError:  # pragma: no cover - urllib3 ships with botocore
        return False
    return isinstance(exc, Urllib3ReadTimeout)


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(
        exc,
        (
            boto_exc.EndpointConnectionError,
            boto_exc.ConnectionClosedError,
            boto_exc.ConnectTimeoutError,
            ConnectionError,
        ),
    ):
        return True
    from urllib3.exceptions import ProtocolError

    if isinstance(exc, ProtocolError):
        return True
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiobotocore depends on aiohttp
        return False
    return isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError))


def classify(
    exc: BaseException, *, model_id: str | None, after_content: bool = False, partial_text: str = ""
) -> LLMError:
    """Map any exception raised by a model call into an `LLMError`.

    Order matters: EventStreamError is a ClientError subclass; botocore's ConnectTimeoutError
    is a ConnectionError; aiohttp's socket timeouts are TimeoutErrors.
    """
    if isinstance(exc, LLMError):
        return exc
    kwargs: dict[str, Any] = {"model_id": model_id, "after_content": after_content, "partial_text": partial_text}
    if isinstance(exc, boto_exc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        kind = _CODE_KINDS.get(code)
        if kind is None:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            # Stream exception frames carry status 400 whatever they mean, so an unknown
            # code inside a stream is treated as a model failure, not as our fault.
            if isinstance(exc, boto_exc.EventStreamError):
                kind = FailureKind.MODEL_ERROR
            else:
                kind = _kind_for_status(int(status))
        return LLMError(kind, provider_code=code or None, detail=message, **kwargs)
    if isinstance(exc, boto_exc.ConnectTimeoutError):
        return LLMError(FailureKind.UNAVAILABLE, provider_code="connect_timeout", detail=str(exc), **kwargs)
    if _is_timeout(exc):
        return LLMError(FailureKind.TIMEOUT, provider_code="read_timeout", detail=str(exc), **kwargs)
    if _is_connection_failure(exc):
        return LLMError(FailureKind.UNAVAILABLE, provider_code="connection_lost", detail=str(exc), **kwargs)
    if isinstance(exc, ResponseParserError):
        return LLMError(FailureKind.MODEL_ERROR, provider_code="malformed_response", detail=str(exc), **kwargs)
    if isinstance(exc, (boto_exc.NoCredentialsError, boto_exc.PartialCredentialsError)):
        return LLMError(FailureKind.CLIENT_ERROR, provider_code="no_credentials", detail=str(exc), **kwargs)
    if isinstance(exc, boto_exc.ParamValidationError):
        return LLMError(FailureKind.CLIENT_ERROR, provider_code="invalid_parameters", detail=str(exc), **kwargs)
    if isinstance(exc, boto_exc.BotoCoreError):
        return LLMError(FailureKind.UNAVAILABLE, provider_code=type(exc).__name__, detail=str(exc), **kwargs)
    raise exc
