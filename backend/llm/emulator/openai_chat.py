"""OpenAI's Chat Completions on the emulator: ``POST /v1/chat/completions``.

The official ``openai`` SDK (and anything speaking the same protocol: Ollama,
vLLM, LM Studio clients) works against it through ``base_url``.  A request is
translated into the Converse shape the shared pipeline (``operations``)
answers, so directives, rules, faults, throttles and the request log behave
exactly as on Bedrock; only the bytes differ:

* a stream is ``text/event-stream`` of ``data: {chat.completion.chunk}`` lines,
  one HTTP chunk each: a first chunk with the role, one per text token
  (``delta.content``) or tool-argument fragment (``delta.tool_calls``), a chunk
  with ``finish_reason``, then, when ``stream_options.include_usage`` is set, a
  chunk with ``usage`` and no choices, and ``data: [DONE]``;
* an in-stream fault is a ``data: {"error": {...}}`` line (``error`` sends an
  error that is a bare string); ``truncate`` ends the body without the
  finish chunk and ``[DONE]``;
* HTTP errors carry ``{"error": {"message", "type", "param", "code"}}``.

Chat Completions has no cache markers: nothing is accounted as cached.
``usage.prompt_tokens`` counts the whole input, as OpenAI does.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
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

#: Bedrock error code -> (HTTP status, OpenAI error type, OpenAI error code).
HTTP_ERRORS: dict[str, tuple[int, str, str]] = {
    "ThrottlingException": (429, "requests", "rate_limit_exceeded"),
    "ServiceQuotaExceededException": (429, "insufficient_quota", "insufficient_quota"),
    "ModelNotReadyException": (503, "server_error", "model_not_ready"),
    "ServiceUnavailableException": (503, "server_error", "service_unavailable"),
    "InternalServerException": (500, "server_error", "internal_error"),
    "ModelErrorException": (500, "server_error", "model_error"),
    "ModelTimeoutException": (504, "server_error", "timeout"),
    "ValidationException": (400, "invalid_request_error", "invalid_request"),
    "AccessDeniedException": (403, "invalid_request_error", "permission_denied"),
    "ResourceNotFoundException": (404, "invalid_request_error", "model_not_found"),
    "UnrecognizedClientException": (401, "invalid_request_error", "invalid_api_key"),
}

#: Bedrock stream exception -> (OpenAI error type, code) of the in-stream error.
STREAM_ERRORS: dict[str, tuple[str, str]] = {
    "throttlingException": ("requests", "rate_limit_exceeded"),
    "serviceUnavailableException": ("server_error", "service_unavailable"),
    "internalServerException": ("server_error", "internal_error"),
    "modelStreamErrorException": ("server_error", "model_error"),
    "validationException": ("invalid_request_error", "invalid_request"),
}

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
_IMAGE_MEDIA_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def error_response(error: ApiError, *, request_id: str, close: bool = False) -> bytes:
    status, error_type, code = HTTP_ERRORS.get(error.code, (500, "server_error", "internal_error"))
    body = {"error": {"message": error.message, "type": error_type, "param": None, "code": code}}
    return plain_json_response(status, body, (("x-request-id", request_id),), close=close)


# --- Request translation ---------------------------------------------------------------------------


def model_of(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise validation_error("you must provide a model parameter")
    return str(body["model"])


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def to_converse(body: Any) -> dict[str, Any]:
    """The Converse-shaped equivalent of a Chat Completions body; ValidationException if malformed.

    System and developer messages become system blocks; ``tool`` messages become
    toolResult blocks of a user turn; consecutive turns of one role are merged.
    """
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise validation_error("messages: a non-empty array is required")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise validation_error(f"messages[{index}]: must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system += _parts(message.get("content"), index)
            continue
        if role == "tool":
            content = [{"text": message["content"]}] if isinstance(message.get("content"), str) else []
            blocks = [{"toolResult": {"toolUseId": message.get("tool_call_id"), "content": content}}]
            role = "user"
        elif role == "assistant":
            blocks = _parts(message.get("content"), index) if message.get("content") else []
            blocks += [_tool_use(call, index) for call in message.get("tool_calls") or []]
        elif role == "user":
            blocks = _parts(message.get("content"), index)
        else:
            raise validation_error(f"messages[{index}].role: unknown role {role!r}")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    request: dict[str, Any] = {"messages": turns}
    if system:
        request["system"] = system
    if body.get("tools"):
        request["toolConfig"] = _tool_config(body["tools"], body.get("tool_choice"))
    inference: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    for source, target in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(source) is not None:
            inference[target] = body[source]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else stop
    if inference:
        request["inferenceConfig"] = inference
    return request


def _parts(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise validation_error(f"messages[{index}].content: a string or an array of parts is required")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            media_type, data = _data_url((part.get("image_url") or {}).get("url", ""), index)
            image_format = _IMAGE_MEDIA_TYPES.get(media_type)
            if image_format is None:
                raise validation_error(f"messages[{index}]: unsupported image type {media_type!r}")
            blocks.append({"image": {"format": image_format, "source": {"bytes": data}}})
        elif kind == "file":
            media_type, data = _data_url((part.get("file") or {}).get("file_data", ""), index)
            if media_type != "application/pdf":
                raise validation_error(f"messages[{index}]: only PDF files are supported")
            blocks.append({"document": {"format": "pdf", "name": "document", "source": {"bytes": data}}})
        else:
            raise validation_error(f"messages[{index}].content: unknown part type {kind!r}")
    return blocks


def _data_url(url: str, index: int) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:`` URL; remote URLs cannot be fetched offline."""
    head, _, data = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise validation_error(f"messages[{index}]: only base64 data URLs are supported by the emulator")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise validation_error(f"messages[{index}]: invalid base64 data") from None
    return head[len("data:") : -len(";base64")], data


def _tool_use(call: Any, index: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise validation_error(f"messages[{index}].tool_calls: each call needs a function")
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        raise validation_error(f"messages[{index}].tool_calls: arguments must be JSON") from None
    return {"toolUse": {"toolUseId": call.get("id"), "name": function.get("name"), "input": arguments}}


def _tool_config(tools: Any, choice: Any) -> dict[str, Any]:
    if not isinstance(tools, list):
        raise validation_error("tools: an array is required")
    specs = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            raise validation_error("tools: each tool must be {type: function, function: {...}}")
        spec = {"name": function.get("name"), "inputSchema": {"json": function.get("parameters") or {}}}
        if function.get("description"):
            spec["description"] = function["description"]
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        config["toolChoice"] = {"tool": {"name": choice["function"].get("name")}}
    return config


# --- The wire ----------------------------------------------------------------------------------------


def _data(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return http_chunk(f"data: {text}\n\n".encode())


def _usage(usage: dict[str, int]) -> dict[str, Any]:
    cached = usage["cacheReadInputTokens"]
    prompt = usage["inputTokens"] + cached + usage["cacheWriteInputTokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage["outputTokens"],
        "total_tokens": prompt + usage["outputTokens"],
        "prompt_tokens_details": {"cached_tokens": cached},
    }


class OpenAIWire:
    """Writes an answer as Chat Completions does (see the module docstring)."""

    def __init__(self, model_id: str, request_id: str, *, include_usage: bool) -> None:
        self.model_id = model_id
        self.request_id = request_id
        self.include_usage = include_usage
        self.completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        # Every chunk repeats these fields; the per-token chunk is formatted around them.
        self._prefix = (
            f'data: {{"id":"{self.completion_id}","object":"chat.completion.chunk","created":{self.created},'
            f'"model":{json.dumps(model_id)},"choices":[{{"index":0,"delta":'
        )

    def _headers(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", self.request_id),)

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        tail = json.dumps(finish_reason)
        delta_json = json.dumps(delta, separators=(",", ":"), ensure_ascii=False)
        return http_chunk(f'{self._prefix}{delta_json},"finish_reason":{tail}}}]}}\n\n'.encode())

    def response(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        reply = plan.reply
        message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text_tokens) or None}
        if reply.tool_call is not None:
            call = reply.tool_call
            arguments = json.dumps(call.input, separators=(",", ":"))
            message["tool_calls"] = [
                {"id": call.tool_use_id, "type": "function", "function": {"name": call.name, "arguments": arguments}}
            ]
        body = {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model_id,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
            "usage": _usage(usage),
        }
        return plain_json_response(200, body, self._headers(), close=exchange.close)

    def stream_open(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        return sse_head(self._headers(), close=exchange.close) + self._chunk({"role": "assistant", "content": ""})

    def stream_events(self, reply: Reply) -> Iterator[tuple[bytes, bool]]:
        for token in reply.text_tokens:
            yield self._chunk({"content": token}), True
        if reply.tool_call is not None:
            call = reply.tool_call
            start = {"index": 0, "id": call.tool_use_id, "type": "function", "function": {"name": call.name}}
            for position, fragment in enumerate(call.fragments):
                tool_delta: dict[str, Any] = start if position == 0 else {"index": 0}
                tool_delta = {**tool_delta, "function": {**tool_delta.get("function", {}), "arguments": fragment}}
                yield self._chunk({"tool_calls": [tool_delta]}), True
        yield self._chunk({}, _finish_reason(reply)), False

    def stream_close(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        tail = b""
        if self.include_usage:
            tail = _data(
                {
                    "id": self.completion_id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model_id,
                    "choices": [],
                    "usage": _usage(usage),
                }
            )
        return tail + _data("[DONE]") + LAST_CHUNK

    def stream_error(self, fault: Fault) -> bytes:
        if fault.code == ERROR_FRAME_CODE:
            return _data({"error": "Internal failure (emulated)"})
        error_type, code = STREAM_ERRORS[fault.code]
        return _data(
            {"error": {"message": f"{fault.code} (emulated)", "type": error_type, "param": None, "code": code}}
        )

    def end_of_body(self) -> bytes:
        return LAST_CHUNK


def _finish_reason(reply: Reply) -> str:
    return _FINISH_REASONS.get(reply.stop_reason, "stop")
