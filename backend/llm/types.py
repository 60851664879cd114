"""Provider-neutral request, response and stream-event types.

They describe a conversation the way Claude sees it (system blocks, user/assistant turns of
content blocks) without any Bedrock field names; `backend.llm.bedrock` translates them.
All types are immutable dataclasses so a request can be retried on another model unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Role = Literal["user", "assistant"]
ImageFormat = Literal["png", "jpeg", "gif", "webp"]
DocumentFormat = Literal["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str


@dataclass(frozen=True, slots=True)
class ImageBlock:
    format: ImageFormat
    data: bytes


@dataclass(frozen=True, slots=True)
class DocumentBlock:
    format: DocumentFormat
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ToolUseBlock:
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResultBlock:
    tool_use_id: str
    content: tuple[TextBlock | ImageBlock | DocumentBlock, ...] | str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class CachePoint:
    """Marks the end of a prefix the provider should cache (system, messages or tools)."""

    ttl: Literal["5m", "1h"] | None = None


ContentBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | CachePoint
SystemBlock = TextBlock | CachePoint


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: tuple[ContentBlock, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=(TextBlock(text),))

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls(role="assistant", content=(TextBlock(text),))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who and what a call is for; stored on its usage record (never sent to the provider)."""

    purpose: str = "other"  # chat | title | memory | prototype | admin | help | other
    user_id: Any = None
    reference: str = ""  # e.g. "chat.message:<uuid>"


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One model call. `alias` picks the fallback chain from the registry."""

    messages: tuple[Message, ...]
    alias: str = "chat-default"
    system: tuple[SystemBlock, ...] = ()
    max_tokens: int | None = None  # None -> the model's max output
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "any"] | str | None = None  # a tool name forces that tool
    context: CallContext = field(default_factory=CallContext)


class StopReason(enum.StrEnum):
    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"
    CONTENT_FILTERED = "content_filtered"
    GUARDRAIL_INTERVENED = "guardrail_intervened"
    CONTEXT_WINDOW_EXCEEDED = "model_context_window_exceeded"
    OTHER = "other"

    @classmethod
    def parse(cls, value: str | None) -> StopReason:
        try:
            return cls(value or "other")
        except ValueError:
            return cls.OTHER


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False  # True when the provider sent no usage and we counted locally

    @property
    def billed_tokens(self) -> int:
        """Every token the call billed, cache reads and writes included (what budgets count)."""
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


# --- Stream events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamStart:
    """The model that is answering (after any fallback); sent before the first delta."""

    model_id: str
    alias: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolUseEvent:
    """A complete tool call (input JSON assembled from the stream's fragments)."""

    tool_use: ToolUseBlock


@dataclass(frozen=True, slots=True)
class StreamStop:
    """The last event of a successful stream."""

    stop_reason: StopReason
    usage: Usage
    model_id: str
    cost: Decimal
    latency_ms: int


StreamEvent = StreamStart | TextDelta | ToolUseEvent | StreamStop


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    content: tuple[TextBlock | ToolUseBlock, ...]
    stop_reason: StopReason
    usage: Usage
    model_id: str  # the model that actually answered
    alias: str
    cost: Decimal
    latency_ms: int

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [block for block in self.content if isinstance(block, ToolUseBlock)]
