"""The Anthropic Messages API adapter: the only module that imports the `anthropic` SDK.

- Clients: `Anthropic` (sync: Celery, commands) and `AsyncAnthropic` per event loop (the web
  process streams on the loop, no thread per stream), per connection (base URL and key).
  The key is read from the environment variable the registry entry names, on each call.
- Translation: `LLMRequest` → `messages.create` arguments (text, images, PDF and text
  documents, tool use and results, `cache_control` on the block before each cache point);
  raw stream events → neutral deltas, usage with cache read/write tokens.
- Failures: the SDK's status errors (429 and 529 overloaded → throttled, 5xx → unavailable,
  504 → timeout, 4xx → client error), `error` events inside the stream (classified by their
  error type), httpx2 transport errors; a stream without `message_stop` is truncated.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import anthropic

from backend.llm import providers
from backend.llm.errors import FailureKind, LLMError, kind_for_status, transport_failure
from backend.llm.providers import NO_TOOL_USES, Answer, check_sampling, max_tokens
from backend.llm.registry import ModelSpec
from backend.llm.types import (
    CachePoint,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

# The Messages API reads PDFs, and plain text (sent as a text document).
DOCUMENT_FORMATS = frozenset({"pdf", "txt", "md", "csv", "html"})

# Anthropic error types (HTTP bodies and in-stream `error` events) -> failure kind.
_ERROR_TYPES = {
    "rate_limit_error": FailureKind.THROTTLED,
    "overloaded_error": FailureKind.THROTTLED,
    "api_error": FailureKind.UNAVAILABLE,
    "timeout_error": FailureKind.TIMEOUT,
    "invalid_request_error": FailureKind.CLIENT_ERROR,
    "authentication_error": FailureKind.CLIENT_ERROR,
    "permission_error": FailureKind.CLIENT_ERROR,
    "not_found_error": FailureKind.CLIENT_ERROR,
    "request_too_large": FailureKind.CLIENT_ERROR,
    "billing_error": FailureKind.CLIENT_ERROR,
}

_parse_stop_reason = providers.stop_reason_parser(
    {"refusal": StopReason.CONTENT_FILTERED, "pause_turn": StopReason.OTHER}
)


# --- Failures --------------------------------------------------------------------------------------


def classify(
    exc: BaseException, *, model_id: str | None, after_content: bool = False, partial_text: str = ""
) -> LLMError:
    """Map any exception raised by an Anthropic API call into an `LLMError`."""
    if isinstance(exc, LLMError):
        return exc
    kwargs: dict[str, Any] = {"model_id": model_id, "after_content": after_content, "partial_text": partial_text}
    if isinstance(exc, anthropic.APIStatusError):
        error_type = exc.type if isinstance(exc.type, str) else None
        if exc.status_code == 200:  # an `error` event inside the stream: only its type tells
            kind = _ERROR_TYPES.get(error_type or "", FailureKind.MODEL_ERROR)
        else:
            kind = _ERROR_TYPES.get(error_type or "") or kind_for_status(exc.status_code)
            if exc.status_code in (429, 529):
                kind = FailureKind.THROTTLED
        detail = exc.api_message if isinstance(exc.api_message, str) else type(exc).__name__
        return LLMError(kind, provider_code=error_type or str(exc.status_code), detail=detail, **kwargs)
    transport = transport_failure(exc)
    if transport is not None:
        return LLMError(transport[0], provider_code=transport[1], detail=type(exc).__name__, **kwargs)
    if isinstance(exc, anthropic.APIConnectionError):
        return LLMError(FailureKind.UNAVAILABLE, provider_code="connection_failed", detail=str(exc), **kwargs)
    if isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError):
        # A malformed event (bad JSON, an unexpected shape) is the model service's fault.
        return LLMError(FailureKind.MODEL_ERROR, provider_code="malformed_response", detail=str(exc), **kwargs)
    if isinstance(exc, anthropic.AnthropicError):
        return LLMError(FailureKind.CLIENT_ERROR, provider_code=type(exc).__name__, detail=str(exc), **kwargs)
    raise exc


# --- Clients ---------------------------------------------------------------------------------------


_clients = providers.ClientCache(anthropic.Anthropic, anthropic.AsyncAnthropic, anthropic.Timeout, key_required=True)


# --- Request translation ---------------------------------------------------------------------------


def _media(block: ImageBlock | DocumentBlock) -> dict[str, Any]:
    if isinstance(block, ImageBlock):
        data = base64.b64encode(block.data).decode("ascii")
        return {"type": "image", "source": {"type": "base64", "media_type": f"image/{block.format}", "data": data}}
    if block.format == "pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(block.data).decode()}
    else:
        source = {"type": "text", "media_type": "text/plain", "data": block.data.decode("utf-8", "replace")}
    return {"type": "document", "source": source, "title": block.name}


def _block(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock | DocumentBlock):
        return _media(block)
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.tool_use_id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        content: str | list[dict[str, Any]]
        content = block.content if isinstance(block.content, str) else [_block(inner) for inner in block.content]
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id, "content": content}
        if block.is_error:
            result["is_error"] = True
        return result
    raise TypeError(f"unknown content block {type(block).__name__}")


def _blocks(blocks: tuple[ContentBlock, ...]) -> list[dict[str, Any]]:
    """Anthropic blocks; a cache point becomes `cache_control` on the block before it."""
    result: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, CachePoint):
            if result:
                result[-1]["cache_control"] = {"type": "ephemeral", **({"ttl": block.ttl} if block.ttl else {})}
            continue
        result.append(_block(block))
    return result


def _shared_arguments(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
    """What `create` and `count_tokens` both take: model, messages, system, tools."""
    arguments: dict[str, Any] = {
        "model": model.provider_model_id,
        "messages": [{"role": message.role, "content": _blocks(message.content)} for message in request.messages],
    }
    if request.system:
        arguments["system"] = _blocks(request.system)
    if request.tools:
        arguments["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
            for tool in request.tools
        ]
        if request.tool_choice in ("auto", "any"):
            arguments["tool_choice"] = {"type": request.tool_choice}
        elif request.tool_choice:
            arguments["tool_choice"] = {"type": "tool", "name": request.tool_choice}
    return arguments


def create_arguments(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
    """Keyword arguments of `messages.create` for `request` on `model` (without `stream`)."""
    check_sampling(request, model)
    arguments = _shared_arguments(request, model)
    arguments["max_tokens"] = max_tokens(request, model)
    if request.temperature is not None:
        arguments["temperature"] = request.temperature
    if request.top_p is not None:
        arguments["top_p"] = request.top_p
    if request.stop_sequences:
        arguments["stop_sequences"] = list(request.stop_sequences)
    return arguments


# --- Response translation --------------------------------------------------------------------------


def _usage(raw: Any) -> Usage:
    return Usage(
        input_tokens=raw.input_tokens or 0,
        output_tokens=raw.output_tokens or 0,
        cache_read_tokens=raw.cache_read_input_tokens or 0,
        cache_write_tokens=raw.cache_creation_input_tokens or 0,
    )


def parse_message(message: Any) -> Answer:
    content: list[TextBlock | ToolUseBlock] = []
    for block in message.content:
        if block.type == "text":
            content.append(TextBlock(block.text))
        elif block.type == "tool_use":
            content.append(ToolUseBlock(tool_use_id=block.id, name=block.name, input=dict(block.input or {})))
    return content, _parse_stop_reason(message.stop_reason), _usage(message.usage) if message.usage else None


@dataclass
class StreamAssembler(providers.StreamAssembler):
    """Consumes raw Messages API stream events (the SDK's typed events, not its accumulator)."""

    terminal_event: str = "message_stop"
    _pending_stop: StopReason | None = None

    def feed(self, event: Any) -> tuple[str, tuple[ToolUseBlock, ...]]:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                self.text_parts.append(delta.text)
                return delta.text, NO_TOOL_USES
            if delta.type == "input_json_delta" and event.index in self.tool_blocks:
                self.tool_blocks[event.index]["input"].append(delta.partial_json)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.tool_blocks[event.index] = {"tool_use_id": block.id, "name": block.name, "input": []}
        elif kind == "content_block_stop":
            tool_use = self.close_tool_block(event.index)
            if tool_use is not None:
                return "", (tool_use,)
        elif kind == "message_start":
            self.input_usage = _usage(event.message.usage)
        elif kind == "message_delta":
            self._pending_stop = _parse_stop_reason(event.delta.stop_reason)
            self.usage = self._merged_usage(event.usage)
        elif kind == "message_stop":
            self.stop_reason = self._pending_stop or StopReason.END_TURN
        return "", NO_TOOL_USES

    def _merged_usage(self, delta: Any) -> Usage:
        """message_delta's usage is cumulative; its input fields may be absent (then message_start's hold)."""
        start = self.input_usage or Usage()
        return Usage(
            input_tokens=start.input_tokens if delta.input_tokens is None else delta.input_tokens,
            output_tokens=delta.output_tokens,
            cache_read_tokens=(
                start.cache_read_tokens if delta.cache_read_input_tokens is None else delta.cache_read_input_tokens
            ),
            cache_write_tokens=(
                start.cache_write_tokens
                if delta.cache_creation_input_tokens is None
                else delta.cache_creation_input_tokens
            ),
        )


# --- The adapter -----------------------------------------------------------------------------------


class AnthropicAdapter(providers.SdkAdapter):
    """The Anthropic Messages API (see `backend.llm.providers.ProviderAdapter`)."""

    name = "anthropic"
    document_formats = DOCUMENT_FORMATS
    assembler_class = StreamAssembler
    clients = _clients
    arguments = staticmethod(create_arguments)
    classify = staticmethod(classify)

    def open_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        return _clients.sync(model, stream=True).messages.create(**prepared, stream=True)

    async def aopen_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        return await _clients.async_(model, stream=True).messages.create(**prepared, stream=True)

    def complete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_message(_clients.sync(model, stream=False).messages.create(**prepared))

    async def acomplete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_message(await _clients.async_(model, stream=False).messages.create(**prepared))

    def count_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        client = _clients.sync(model, stream=False)
        return int(client.messages.count_tokens(**_shared_arguments(request, model)).input_tokens)

    async def acount_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        client = _clients.async_(model, stream=False)
        return int((await client.messages.count_tokens(**_shared_arguments(request, model))).input_tokens)


ADAPTER = AnthropicAdapter()
