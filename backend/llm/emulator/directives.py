"""Directives: behaviour switches embedded in the last user message.

Grammar (directives are combinable and are stripped from the text the reply
is derived from)::

    [[emu:tokens=N]]            reply length in tokens (N >= 0)
    [[emu:delay_ms=N]]          delay between two deltas
    [[emu:first_token_ms=N]]    delay before the first delta (after messageStart)
    [[emu:reply=TEXT]]          exact reply; TEXT runs to the closing "]]"
    [[emu:stop_reason=X]]       override the stop reason (a StopReason enum value)
    [[emu:FAULT]]               one fault, optionally scoped: [[emu:FAULT model=SUBSTR]]

    FAULT := throttle                  HTTP 429 ThrottlingException before the stream
           | unavailable               HTTP 503 ServiceUnavailableException
           | error=CODE                HTTP error with a modeled code (e.g. ModelTimeoutException)
           | midstream_error=CODE@K    exception frame CODE (lower camel) after K deltas;
                                       CODE "error" sends an unmodeled error frame
           | drop@K                    half a frame after K deltas, then abort the TCP connection
           | stall@K                   stop sending after K deltas, keep the connection open
           | truncate@K                end the body cleanly after K deltas (no stop events)

``@K`` defaults to 0.  A ``model=SUBSTR`` qualifier restricts a fault to
requests whose model id contains SUBSTR, so several scoped faults can drive
fallback tests (the first one that applies wins).  The control API's rules
use the same FAULT grammar with ``:`` in place of ``=`` (``error:CODE``).

An unknown or malformed directive is rejected with a ValidationException so
that a typo in a test fails loudly instead of being echoed back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.llm.emulator.errors import (
    HTTP_ERRORS,
    STREAM_EXCEPTIONS,
    ApiError,
    validation_error,
)

STOP_REASONS = frozenset(
    {
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "guardrail_intervened",
        "content_filtered",
        "malformed_model_output",
        "malformed_tool_use",
        "model_context_window_exceeded",
    }
)

#: Faults answered with an HTTP error before any stream starts.
PRE_STREAM_FAULTS = frozenset({"throttle", "unavailable", "error"})
#: Faults that act after K deltas of a stream.
IN_STREAM_FAULTS = frozenset({"midstream_error", "drop", "stall", "truncate"})
#: ``midstream_error`` code that sends an unmodeled error frame.
ERROR_FRAME_CODE = "error"

_DIRECTIVE = re.compile(r"\[\[emu:(.*?)\]\]", re.DOTALL)
_QUALIFIED = re.compile(r"\s*(\S+?)(?:\s+model=(\S+))?\s*")
_FAULT = re.compile(r"([a-z_]+)(?:[=:]([A-Za-z]+))?(?:@(\d+))?")
_NUMERIC = frozenset({"tokens", "delay_ms", "first_token_ms"})


@dataclass(frozen=True)
class Fault:
    """A scripted failure.

    ``kind`` is one of PRE_STREAM_FAULTS or IN_STREAM_FAULTS; ``code`` is the
    HTTP error code (``error``) or the lower-camel stream exception
    (``midstream_error``); ``at`` is the number of deltas sent before an
    in-stream fault fires; ``model`` is a model-id substring scope ("" = any).
    """

    kind: str
    code: str = ""
    at: int = 0
    model: str = ""

    def applies_to(self, model_id: str) -> bool:
        return self.model in model_id

    @property
    def pre_stream(self) -> bool:
        return self.kind in PRE_STREAM_FAULTS

    def http_error(self) -> ApiError:
        """The HTTP error of a pre-stream fault."""
        if self.kind == "throttle":
            return ApiError("ThrottlingException")
        if self.kind == "unavailable":
            return ApiError("ServiceUnavailableException")
        return ApiError(self.code)


@dataclass(frozen=True)
class Directives:
    """Everything the directives of one message asked for (None = not given)."""

    tokens: int | None = None
    delay_ms: int = 0
    first_token_ms: int = 0
    reply: str | None = None
    stop_reason: str | None = None
    faults: tuple[Fault, ...] = field(default_factory=tuple)

    def fault_for(self, model_id: str) -> Fault | None:
        """The first fault scoped to ``model_id``, if any."""
        return next((f for f in self.faults if f.applies_to(model_id)), None)


def strip_directives(text: str) -> str:
    """``text`` with every ``[[emu:...]]`` directive removed."""
    return _DIRECTIVE.sub("", text)


def parse_directives(text: str) -> Directives:
    """Parse every directive in ``text``; raise ApiError(ValidationException) if malformed."""
    numbers: dict[str, int] = {}
    strings: dict[str, str] = {}
    faults: list[Fault] = []
    for match in _DIRECTIVE.finditer(text):
        body = match.group(1)
        if body.startswith("reply="):
            strings["reply"] = body[len("reply=") :]
            continue
        qualified = _QUALIFIED.fullmatch(body)
        if qualified is None:
            raise _bad(body, "expected NAME[=VALUE][@K] [model=SUBSTR]")
        spec, model = qualified.group(1), qualified.group(2) or ""
        name, _, value = spec.partition("=")
        if name in _NUMERIC and not model:
            numbers[name] = _non_negative_int(value, body)
        elif name == "stop_reason" and not model:
            if value not in STOP_REASONS:
                raise _bad(body, f"stop_reason must be one of {sorted(STOP_REASONS)}")
            strings[name] = value
        else:
            faults.append(parse_fault(spec, model))
    return Directives(
        tokens=numbers.get("tokens"),
        delay_ms=numbers.get("delay_ms", 0),
        first_token_ms=numbers.get("first_token_ms", 0),
        reply=strings.get("reply"),
        stop_reason=strings.get("stop_reason"),
        faults=tuple(faults),
    )


def parse_fault(spec: str, model: str = "") -> Fault:
    """Parse a FAULT (``drop@3``, ``error=ModelTimeoutException``, ``error:CODE``...)."""
    match = _FAULT.fullmatch(spec)
    if match is None:
        raise _bad(spec, "unknown directive")
    kind, code, at = match.group(1), match.group(2) or "", match.group(3)
    if kind in PRE_STREAM_FAULTS:
        if at is not None or (kind == "error") != bool(code):
            raise _bad(spec, "use throttle, unavailable or error=CODE (no @K)")
        if kind == "error":
            code = _http_error_code(code, spec)
    elif kind in IN_STREAM_FAULTS:
        if kind == "midstream_error":
            code = _stream_exception_code(code, spec)
        elif code:
            raise _bad(spec, f"{kind} takes no value, only @K")
    else:
        raise _bad(spec, "unknown directive")
    return Fault(kind=kind, code=code, at=int(at or 0), model=model)


def _http_error_code(code: str, spec: str) -> str:
    for known in HTTP_ERRORS:
        if known.lower() == code.lower():
            return known
    raise _bad(spec, f"error code must be one of {sorted(HTTP_ERRORS)}")


def _stream_exception_code(code: str, spec: str) -> str:
    if code == ERROR_FRAME_CODE:
        return code
    for known in STREAM_EXCEPTIONS:
        if known.lower() == code.lower():
            return known
    choices = [*sorted(STREAM_EXCEPTIONS), ERROR_FRAME_CODE]
    raise _bad(spec, f"midstream_error code must be one of {choices}")


def _non_negative_int(value: str, body: str) -> int:
    if not value.isdigit():
        raise _bad(body, "expected a non-negative integer")
    return int(value)


def _bad(directive: str, reason: str) -> ApiError:
    return validation_error(f"Invalid emulator directive [[emu:{directive}]]: {reason}.")
