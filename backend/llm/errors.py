"""The failure taxonomy of model calls, and what every provider adapter shares to map into it.

Why our own taxonomy: each SDK reports the same condition in several shapes (botocore: a
modeled `ThrottlingException` before the stream, an `EventStreamError` with code
`throttlingException` inside it, a raw urllib3 `ReadTimeoutError` when the stream stalls;
the Anthropic SDK: a `RateLimitError`, an `OverloadedError`, an `error` event inside the
stream; nothing at all when a stream ends early). Fallback decisions need one answer per
condition. Each adapter maps its own SDK's shapes (`classify` in `bedrock`, `anthropic_api`,
`openai_compat`); the HTTP status rules and the transport failures of the httpx-based SDKs
are shared here.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from backend.errors import ApplicationError, ErrorCode
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

_CODES = {
    FailureKind.THROTTLED: ErrorCode.LLM_THROTTLED,
    FailureKind.UNAVAILABLE: ErrorCode.LLM_UNAVAILABLE,
    FailureKind.TIMEOUT: ErrorCode.LLM_TIMEOUT,
    FailureKind.MODEL_ERROR: ErrorCode.LLM_MODEL_ERROR,
    FailureKind.CLIENT_ERROR: ErrorCode.LLM_CLIENT_ERROR,
    FailureKind.TRUNCATED: ErrorCode.LLM_TRUNCATED,
}

_MESSAGES = {
    FailureKind.THROTTLED: "The model is receiving too many requests. Try again shortly.",
    FailureKind.UNAVAILABLE: "The model service is unavailable. Try again shortly.",
    FailureKind.TIMEOUT: "The model did not answer in time.",
    FailureKind.MODEL_ERROR: "The model failed while answering.",
    FailureKind.CLIENT_ERROR: "The model refused the request.",
    FailureKind.TRUNCATED: "The model's answer was cut off.",
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
            code=_CODES[kind],
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


def kind_for_status(status: int) -> FailureKind:
    """The failure kind of an HTTP error status (used when no provider error code is known)."""
    if status in (429, 529):  # 529: Anthropic's "overloaded"
        return FailureKind.THROTTLED
    if status in (408, 504):
        return FailureKind.TIMEOUT
    if status == 424:
        return FailureKind.MODEL_ERROR
    if status >= 500:
        return FailureKind.UNAVAILABLE
    return FailureKind.CLIENT_ERROR


def transport_failure(exc: BaseException) -> tuple[FailureKind, str] | None:
    """(kind, provider code) of a timeout or broken connection of an httpx-based SDK, else None.

    A connect timeout means the endpoint is unreachable (`unavailable`); a read timeout bounds
    the silence between two events (`timeout`); a connection closed mid-body is `unavailable`.
    """
    import httpx2

    for cause in (exc, exc.__cause__):
        if isinstance(cause, httpx2.ConnectTimeout):
            return FailureKind.UNAVAILABLE, "connect_timeout"
        if isinstance(cause, (httpx2.TimeoutException, TimeoutError)):
            return FailureKind.TIMEOUT, "read_timeout"
        if isinstance(cause, httpx2.ConnectError):
            return FailureKind.UNAVAILABLE, "connect_failed"
        if isinstance(cause, (httpx2.TransportError, ConnectionError)):
            return FailureKind.UNAVAILABLE, "connection_lost"
    return None
