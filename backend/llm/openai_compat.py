"""The OpenAI-compatible Chat Completions adapter: the only module that imports the `openai` SDK.

Any server speaking Chat Completions works through its base URL: OpenAI, Ollama
(`http://127.0.0.1:11434/v1`), vLLM, LM Studio. A local server needing no key gets an entry
with `"api_key_env": ""`.

- Clients: `OpenAI` (sync) and `AsyncOpenAI` per event loop, per connection.
- Translation: system blocks → one system message; images → `image_url` data URLs (models
  without vision get `max_images: 0` in their entry and are skipped for such requests); PDFs →
  `file` parts; text documents → text parts; tool calls and `tool` messages; cache points are
  dropped (Chat Completions caches prefixes by itself). Streams ask for
  `stream_options.include_usage`; a server that sends no usage gets its tokens estimated.
- Failures: status errors by status (429 → throttled, 5xx → unavailable, 408/504 → timeout,
  4xx → client error), in-stream `{"error": ...}` chunks by their type/code, transport errors;
  a stream that ends without a `finish_reason` is truncated.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import openai

from backend.llm import providers
from backend.llm.errors import FailureKind, LLMError, kind_for_status, transport_failure
from backend.llm.providers import NO_TOOL_USES, Answer, check_sampling, max_tokens
from backend.llm.registry import ModelSpec
from backend.llm.tokens import estimate_request_tokens
from backend.llm.types import (
    CachePoint,
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    Message,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

# PDFs travel as `file` parts; text formats are inlined as text.
DOCUMENT_FORMATS = frozenset({"pdf", "txt", "md", "csv", "html"})
# Sent as the key to servers that need none (the SDK refuses an empty key).
NO_KEY = "not-needed"

_parse_finish_reason = providers.stop_reason_parser(
    {
        "stop": StopReason.END_TURN,
        "length": StopReason.MAX_TOKENS,
        "tool_calls": StopReason.TOOL_USE,
        "function_call": StopReason.TOOL_USE,
        "content_filter": StopReason.CONTENT_FILTERED,
    }
)


# --- Failures --------------------------------------------------------------------------------------


def _kind_of_stream_error(error_type: str, code: str) -> FailureKind:
    """The kind of an error sent inside a stream (no HTTP status to go by)."""
    words = f"{error_type} {code}"
    if "rate_limit" in words or error_type in ("requests", "tokens") or "overloaded" in words:
        return FailureKind.THROTTLED
    if "invalid_request" in words or "invalid_api_key" in words or "permission" in words:
        return FailureKind.CLIENT_ERROR
    if "timeout" in words:
        return FailureKind.TIMEOUT
    if error_type == "server_error" and code in ("service_unavailable", "internal_error", "model_not_ready"):
        return FailureKind.UNAVAILABLE
    return FailureKind.MODEL_ERROR


def classify(
    exc: BaseException, *, model_id: str | None, after_content: bool = False, partial_text: str = ""
) -> LLMError:
    """Map any exception raised by a Chat Completions call into an `LLMError`."""
    if isinstance(exc, LLMError):
        return exc
    kwargs: dict[str, Any] = {"model_id": model_id, "after_content": after_content, "partial_text": partial_text}
    code = str(getattr(exc, "code", None) or "")
    error_type = str(getattr(exc, "type", None) or "")
    if isinstance(exc, openai.APIStatusError):
        kind = kind_for_status(exc.status_code)
        return LLMError(kind, provider_code=code or error_type or str(exc.status_code), detail=exc.message, **kwargs)
    transport = transport_failure(exc)
    if transport is not None:
        return LLMError(transport[0], provider_code=transport[1], detail=type(exc).__name__, **kwargs)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(FailureKind.UNAVAILABLE, provider_code="connection_failed", detail=str(exc), **kwargs)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return LLMError(FailureKind.MODEL_ERROR, provider_code="malformed_response", detail=str(exc), **kwargs)
    if isinstance(exc, openai.APIError):  # an error chunk inside the stream
        kind = _kind_of_stream_error(error_type, code)
        return LLMError(kind, provider_code=code or error_type or None, detail=exc.message, **kwargs)
    if isinstance(exc, openai.OpenAIError):
        return LLMError(FailureKind.CLIENT_ERROR, provider_code=type(exc).__name__, detail=str(exc), **kwargs)
    raise exc


# --- Clients ---------------------------------------------------------------------------------------


_clients = providers.ClientCache(openai.OpenAI, openai.AsyncOpenAI, openai.Timeout, key_required=False, no_key=NO_KEY)


# --- Request translation ---------------------------------------------------------------------------


def _data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _part(block: TextBlock | ImageBlock | DocumentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        return {"type": "image_url", "image_url": {"url": _data_url(f"image/{block.format}", block.data)}}
    if block.format == "pdf":
        return {"type": "file", "file": {"filename": block.name, "file_data": _data_url("application/pdf", block.data)}}
    text = block.data.decode("utf-8", "replace")
    return {"type": "text", "text": f'<document name="{block.name}">\n{text}\n</document>'}


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Plain text as a string (what every compatible server takes), anything richer as parts."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _tool_result_text(block: ToolResultBlock) -> str:
    if isinstance(block.content, str):
        return block.content
    return "\n\n".join(inner.text for inner in block.content if isinstance(inner, TextBlock))


def _messages(message: Message) -> list[dict[str, Any]]:
    """One neutral message as Chat Completions messages (tool results become `tool` messages)."""
    result: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            result.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": _tool_result_text(block)})
        elif isinstance(block, ToolUseBlock):
            function = {"name": block.name, "arguments": json.dumps(block.input)}
            tool_calls.append({"id": block.tool_use_id, "type": "function", "function": function})
        elif not isinstance(block, CachePoint):
            parts.append(_part(block))
    if message.role == "assistant":
        turn: dict[str, Any] = {"role": "assistant", "content": _content(parts) if parts else None}
        if tool_calls:
            turn["tool_calls"] = tool_calls
        return [turn]
    if parts:
        result.append({"role": "user", "content": _content(parts)})
    return result


def create_arguments(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
    """Keyword arguments of `chat.completions.create` for `request` on `model` (without `stream`)."""
    check_sampling(request, model)
    messages: list[dict[str, Any]] = []
    system = [block.text for block in request.system if isinstance(block, TextBlock)]
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    for message in request.messages:
        messages += _messages(message)
    arguments: dict[str, Any] = {
        "model": model.provider_model_id,
        "messages": messages,
        "max_tokens": max_tokens(request, model),
    }
    if request.temperature is not None:
        arguments["temperature"] = request.temperature
    if request.top_p is not None:
        arguments["top_p"] = request.top_p
    if request.stop_sequences:
        arguments["stop"] = list(request.stop_sequences)
    if request.tools:
        arguments["tools"] = [
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
            }
            for tool in request.tools
        ]
        if request.tool_choice == "auto":
            arguments["tool_choice"] = "auto"
        elif request.tool_choice == "any":
            arguments["tool_choice"] = "required"
        elif request.tool_choice:
            arguments["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    return arguments


# --- Response translation --------------------------------------------------------------------------


def _usage(raw: Any) -> Usage:
    details = raw.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Usage(
        input_tokens=(raw.prompt_tokens or 0) - cached,
        output_tokens=raw.completion_tokens or 0,
        cache_read_tokens=cached,
    )


def parse_completion(completion: Any) -> Answer:
    choice = completion.choices[0]
    content: list[TextBlock | ToolUseBlock] = []
    if choice.message.content:
        content.append(TextBlock(choice.message.content))
    for call in choice.message.tool_calls or []:
        arguments = json.loads(call.function.arguments or "{}")
        content.append(ToolUseBlock(tool_use_id=call.id, name=call.function.name, input=arguments))
    usage = _usage(completion.usage) if completion.usage else None
    return content, _parse_finish_reason(choice.finish_reason), usage


@dataclass
class StreamAssembler(providers.StreamAssembler):
    """Consumes `chat.completion.chunk`s: content, tool-call fragments, finish reason, usage."""

    terminal_event: str = "a finish_reason"

    def feed(self, chunk: Any) -> tuple[str, tuple[ToolUseBlock, ...]]:
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        if not chunk.choices:
            return "", NO_TOOL_USES
        choice = chunk.choices[0]
        delta = choice.delta
        text = (delta.content or "") if delta is not None else ""
        if text:
            self.text_parts.append(text)
        if delta is not None and delta.tool_calls:
            for call in delta.tool_calls:
                block = self.tool_blocks.setdefault(call.index, {"input": []})
                if call.id:
                    block["tool_use_id"] = call.id
                if call.function is not None:
                    if call.function.name:
                        block["name"] = call.function.name
                    if call.function.arguments:
                        block["input"].append(call.function.arguments)
        if choice.finish_reason is None:
            return text, NO_TOOL_USES
        self.stop_reason = _parse_finish_reason(choice.finish_reason)
        closed = [self.close_tool_block(index) for index in sorted(self.tool_blocks)]
        return text, tuple(tool_use for tool_use in closed if tool_use is not None)


# --- The adapter -----------------------------------------------------------------------------------


class OpenAICompatAdapter(providers.SdkAdapter):
    """OpenAI-compatible Chat Completions (see `backend.llm.providers.ProviderAdapter`)."""

    name = "openai"
    document_formats = DOCUMENT_FORMATS
    assembler_class = StreamAssembler
    clients = _clients
    arguments = staticmethod(create_arguments)
    classify = staticmethod(classify)

    def open_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        client = _clients.sync(model, stream=True)
        return client.chat.completions.create(**prepared, stream=True, stream_options={"include_usage": True})

    async def aopen_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        client = _clients.async_(model, stream=True)
        return await client.chat.completions.create(**prepared, stream=True, stream_options={"include_usage": True})

    def complete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_completion(_clients.sync(model, stream=False).chat.completions.create(**prepared))

    async def acomplete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_completion(await _clients.async_(model, stream=False).chat.completions.create(**prepared))

    def count_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        """Chat Completions has no counting endpoint: the local (high) estimate."""
        return estimate_request_tokens(request)

    async def acount_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        return estimate_request_tokens(request)


ADAPTER = OpenAICompatAdapter()
