"""Anthropic's Messages API on the emulator: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

The official ``anthropic`` SDK works against it through ``base_url``.  A request
is translated into the Converse shape the shared pipeline (``operations``)
answers, so directives, rules, faults, throttles, the request log and cache
accounting behave exactly as on Bedrock; only the bytes differ:

* a stream is ``text/event-stream``, one HTTP chunk per event: ``message_start``,
  ``ping``, then per block ``content_block_start`` / ``content_block_delta``
  (``text_delta`` or ``input_json_delta``) / ``content_block_stop``, then
  ``message_delta`` (stop reason and usage) and ``message_stop``;
* an in-stream fault is an ``error`` event (``midstream_error=CODE`` maps the
  Bedrock stream exception to an Anthropic error type; ``error`` sends a
  body that is not JSON); ``truncate`` ends the body without ``message_stop``;
* HTTP errors carry ``{"type": "error", "error": {"type", "message"}}`` and
  Anthropic's statuses (429 ``rate_limit_error``, 529 ``overloaded_error``...).

``cache_control`` on a block becomes a cache point after it, so cache reads and
writes are accounted as on Bedrock.  The ``x-api-key`` header must be present
(its value is not checked and never recorded).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any

from backend.llm.emulator.directives import ERROR_FRAME_CODE, Fault
from backend.llm.emulator.errors import ApiError, validation_error
from backend.llm.emulator.eventstream import LAST_CHUNK, http_chunk
from backend.llm.emulator.httpio import plain_json_response, sse_head
from backend.llm.emulator.operations import Exchange
from backend.llm.emulator.plan import Plan
from backend.llm.emulator.replies import Reply

#: Bedrock error code -> (HTTP status, Anthropic error type).
HTTP_ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (429, "rate_limit_error"),
    "ServiceQuotaExceededException": (429, "rate_limit_error"),
    "ModelNotReadyException": (529, "overloaded_error"),
    "ServiceUnavailableException": (529, "overloaded_error"),
    "InternalServerException": (500, "api_error"),
    "ModelErrorException": (500, "api_error"),
    "ModelTimeoutException": (504, "timeout_error"),
    "ValidationException": (400, "invalid_request_error"),
    "AccessDeniedException": (403, "permission_error"),
    "ResourceNotFoundException": (404, "not_found_error"),
    "UnrecognizedClientException": (401, "authentication_error"),
}

#: Bedrock stream exception -> Anthropic error type of the ``error`` event.
STREAM_ERRORS: dict[str, str] = {
    "throttlingException": "overloaded_error",
    "serviceUnavailableException": "overloaded_error",
    "internalServerException": "api_error",
    "modelStreamErrorException": "api_error",
    "validationException": "invalid_request_error",
}

_STOP_REASONS = {
    "content_filtered": "refusal",
    "guardrail_intervened": "refusal",
    "malformed_model_output": "end_turn",
    "malformed_tool_use": "end_turn",
}
_IMAGE_MEDIA_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_TEXT_DOCUMENT_TYPES = {"text/plain": "txt"}


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def error_response(error: ApiError, *, request_id: str, close: bool = False) -> bytes:
    status, error_type = HTTP_ERRORS.get(error.code, (500, "api_error"))
    body = {"type": "error", "error": {"type": error_type, "message": error.message}, "request_id": request_id}
    return plain_json_response(status, body, (("request-id", request_id),), close=close)


def authentication_error(request_id: str, *, close: bool = False) -> bytes:
    return error_response(
        ApiError("UnrecognizedClientException", "x-api-key header is required"), request_id=request_id, close=close
    )


# --- Request translation ---------------------------------------------------------------------------


def model_of(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise validation_error("model: Field required")
    return str(body["model"])


def to_converse(body: Any, *, count_only: bool = False) -> dict[str, Any]:
    """The Converse-shaped equivalent of a Messages API body; ValidationException if malformed."""
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise validation_error("messages: Field required")
    request: dict[str, Any] = {
        "messages": [
            {"role": message.get("role"), "content": _content(message.get("content"), f"messages.{index}")}
            for index, message in enumerate(messages)
            if isinstance(message, dict)
        ]
    }
    if len(request["messages"]) != len(messages):
        raise validation_error("messages: each message must be an object")
    if body.get("system"):
        request["system"] = _content(body["system"], "system")
    if body.get("tools"):
        request["toolConfig"] = _tool_config(body["tools"], body.get("tool_choice"))
    if count_only:
        return request
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise validation_error("max_tokens: Field required")
    inference: dict[str, Any] = {"maxTokens": max_tokens}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("stop_sequences", "stopSequences")):
        if body.get(source) is not None:
            inference[target] = body[source]
    request["inferenceConfig"] = inference
    return request


def _content(content: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise validation_error(f"{path}.content: Input should be a valid list")
    blocks: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            raise validation_error(f"{path}.{index}: Input should be an object")
        blocks.append(_block(block, f"{path}.{index}"))
        cache_control = block.get("cache_control")
        if isinstance(cache_control, dict):
            point: dict[str, Any] = {"type": "default"}
            if cache_control.get("ttl"):
                point["ttl"] = cache_control["ttl"]
            blocks.append({"cachePoint": point})
    return blocks


def _block(block: dict[str, Any], path: str) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"text": str(block.get("text", ""))}
    if kind == "image":
        source = block.get("source") or {}
        image_format = _IMAGE_MEDIA_TYPES.get(source.get("media_type", ""))
        if source.get("type") != "base64" or image_format is None:
            raise validation_error(f"{path}.source: a base64 png, jpeg, gif or webp image is expected")
        return {"image": {"format": image_format, "source": {"bytes": source.get("data", "")}}}
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
            return {"document": {"format": "pdf", "name": "document", "source": {"bytes": source.get("data", "")}}}
        if source.get("type") == "text" and source.get("media_type") in _TEXT_DOCUMENT_TYPES:
            return {"document": {"format": "txt", "name": "document", "source": {"text": source.get("data", "")}}}
        raise validation_error(f"{path}.source: a base64 PDF or a text/plain document is expected")
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block.get("id"), "name": block.get("name"), "input": block.get("input")}}
    if kind == "tool_result":
        inner = block.get("content", "")
        content = _content(inner, path) if inner else []
        result: dict[str, Any] = {"toolUseId": block.get("tool_use_id"), "content": content}
        if block.get("is_error"):
            result["status"] = "error"
        return {"toolResult": result}
    raise validation_error(f"{path}.type: unknown content block type {kind!r}")


def _tool_config(tools: Any, choice: Any) -> dict[str, Any]:
    if not isinstance(tools, list):
        raise validation_error("tools: Input should be a valid list")
    specs: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            raise validation_error("tools: each tool must be an object")
        spec = {"name": tool.get("name"), "inputSchema": {"json": tool.get("input_schema") or {}}}
        if tool.get("description"):
            spec["description"] = tool["description"]
        specs.append({"toolSpec": spec})
        if isinstance(tool.get("cache_control"), dict):
            specs.append({"cachePoint": {"type": "default"}})
    config: dict[str, Any] = {"tools": specs}
    if isinstance(choice, dict):
        if choice.get("type") == "tool":
            config["toolChoice"] = {"tool": {"name": choice.get("name")}}
        elif choice.get("type") in ("auto", "any"):
            config["toolChoice"] = {choice["type"]: {}}
    return config


# --- The wire ----------------------------------------------------------------------------------------


def _event(event: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return http_chunk(f"event: {event}\ndata: {payload}\n\n".encode())


def _usage(usage: dict[str, int]) -> dict[str, int]:
    return {
        "input_tokens": usage["inputTokens"],
        "cache_creation_input_tokens": usage["cacheWriteInputTokens"],
        "cache_read_input_tokens": usage["cacheReadInputTokens"],
        "output_tokens": usage["outputTokens"],
    }


def _stop_reason(reply: Reply) -> str:
    return _STOP_REASONS.get(reply.stop_reason, reply.stop_reason)


class AnthropicWire:
    """Writes an answer as the Messages API does (see the module docstring)."""

    def __init__(self, model_id: str, request_id: str) -> None:
        self.model_id = model_id
        self.request_id = request_id
        self.message_id = f"msg_{uuid.uuid4().hex[:24]}"

    def _headers(self) -> tuple[tuple[str, str], ...]:
        return (("request-id", self.request_id),)

    def response(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        content: list[dict[str, Any]] = []
        if plan.reply.has_text_block:
            content.append({"type": "text", "text": "".join(plan.reply.text_tokens)})
        if plan.reply.tool_call is not None:
            call = plan.reply.tool_call
            content.append({"type": "tool_use", "id": call.tool_use_id, "name": call.name, "input": call.input})
        body = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model_id,
            "content": content,
            "stop_reason": _stop_reason(plan.reply),
            "stop_sequence": None,
            "usage": _usage(usage),
        }
        return plain_json_response(200, body, self._headers(), close=exchange.close)

    def stream_open(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model_id,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**_usage(usage), "output_tokens": 1},
        }
        return (
            sse_head(self._headers(), close=exchange.close)
            + _event("message_start", {"type": "message_start", "message": message})
            + _event("ping", {"type": "ping"})
        )

    def stream_events(self, reply: Reply) -> Iterator[tuple[bytes, bool]]:
        index = 0
        if reply.has_text_block:
            start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            yield _event("content_block_start", start), False
            for token in reply.text_tokens:
                yield _text_delta(token), True
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0}), False
            index = 1
        if reply.tool_call is not None:
            call = reply.tool_call
            block = {"type": "tool_use", "id": call.tool_use_id, "name": call.name, "input": {}}
            yield (
                _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}),
                False,
            )
            for fragment in call.fragments:
                delta = {"type": "input_json_delta", "partial_json": fragment}
                yield (
                    _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                    True,
                )
            yield _event("content_block_stop", {"type": "content_block_stop", "index": index}), False

    def stream_close(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(plan.reply), "stop_sequence": None},
            "usage": _usage(usage),
        }
        return _event("message_delta", delta) + _event("message_stop", {"type": "message_stop"}) + LAST_CHUNK

    def stream_error(self, fault: Fault) -> bytes:
        if fault.code == ERROR_FRAME_CODE:  # an error event whose body is not JSON
            return http_chunk(b"event: error\ndata: Internal failure (emulated)\n\n")
        error_type = STREAM_ERRORS[fault.code]
        return _event("error", {"type": "error", "error": {"type": error_type, "message": f"{fault.code} (emulated)"}})

    def end_of_body(self) -> bytes:
        return LAST_CHUNK


@functools.lru_cache(maxsize=16384)
def _text_delta(token: str) -> bytes:
    """One text token's ``content_block_delta`` event, memoised (replies repeat their tokens)."""
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}}
    return _event("content_block_delta", delta)
