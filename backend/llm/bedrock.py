"""The Bedrock Runtime adapter: the only module that talks to boto3/aiobotocore.

- Clients: a sync boto3 client (Celery, management commands) and an aiobotocore client per
  event loop (the web process: no thread per stream, the loop is never blocked).
- Translation: provider-neutral `LLMRequest` → Converse/ConverseStream keyword arguments,
  and Converse responses / stream events → neutral types.

botocore's own retries are limited to one (standard mode): fallback between models is ours.
For streams the read timeout bounds the gap between two events, not the whole answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from aiobotocore.session import get_session
from botocore.config import Config
from django.conf import settings

from backend.llm.errors import FailureKind, LLMError
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

SERVICE = "bedrock-runtime"


def _client_config(*, stream: bool) -> Config:
    return Config(
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_STREAM_READ_TIMEOUT if stream else settings.LLM_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=settings.LLM_MAX_POOL_CONNECTIONS,
        tcp_keepalive=True,
    )


def _client_kwargs(*, stream: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "region_name": settings.AWS_REGION,
        "config": _client_config(stream=stream),
    }
    if settings.BEDROCK_ENDPOINT_URL:
        kwargs["endpoint_url"] = settings.BEDROCK_ENDPOINT_URL
        if not settings.BEDROCK_CREDENTIALS_CONFIGURED:
            # The emulator accepts any signature; spare the developer from configuring keys.
            kwargs["aws_access_key_id"] = "emulator"
            kwargs["aws_secret_access_key"] = "emulator"  # noqa: S105 - not a secret
    return kwargs


def _settings_key(stream: bool) -> tuple[Any, ...]:
    return (
        stream,
        settings.BEDROCK_ENDPOINT_URL,
        settings.AWS_REGION,
        settings.LLM_CONNECT_TIMEOUT,
        settings.LLM_STREAM_READ_TIMEOUT,
        settings.LLM_READ_TIMEOUT,
    )


_sync_clients: dict[tuple[Any, ...], Any] = {}
_sync_lock = threading.Lock()


def sync_client(*, stream: bool) -> Any:
    """A shared boto3 bedrock-runtime client (boto3 clients are thread-safe)."""
    key = _settings_key(stream)
    client = _sync_clients.get(key)
    if client is None:
        with _sync_lock:
            client = _sync_clients.get(key)
            if client is None:
                client = boto3.session.Session().client(SERVICE, **_client_kwargs(stream=stream))
                _sync_clients[key] = client
    return client


@dataclass
class _LoopClients:
    clients: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    contexts: list[Any] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_async_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


async def async_client(*, stream: bool) -> Any:
    """An aiobotocore client bound to the running event loop, created once and reused."""
    loop = asyncio.get_running_loop()
    entry = _async_clients.get(loop)
    if entry is None:
        entry = _async_clients.setdefault(loop, _LoopClients())
    key = _settings_key(stream)
    client = entry.clients.get(key)
    if client is not None:
        return client
    async with entry.lock:
        client = entry.clients.get(key)
        if client is None:
            context = get_session().create_client(SERVICE, **_client_kwargs(stream=stream))
            client = await context.__aenter__()
            entry.contexts.append(context)
            entry.clients[key] = client
    return client


async def aclose_clients() -> None:
    """Close the running loop's aiobotocore clients (server shutdown, tests)."""
    entry = _async_clients.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        for context in entry.contexts:
            await context.__aexit__(None, None, None)


def reset_clients() -> None:
    """Forget cached sync clients, and async ones of event loops that are closed.

    Clients of a running loop stay: they are keyed by the settings they were built from, so a
    settings change gets a new client anyway, and dropping a live one would leak its session.
    """
    _sync_clients.clear()
    for loop in [loop for loop in _async_clients if loop.is_closed()]:
        _async_clients.pop(loop, None)


# --- Request translation ---------------------------------------------------------------------


def _block(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ImageBlock):
        return {"image": {"format": block.format, "source": {"bytes": block.data}}}
    if isinstance(block, DocumentBlock):
        return {"document": {"format": block.format, "name": block.name, "source": {"bytes": block.data}}}
    if isinstance(block, ToolUseBlock):
        return {"toolUse": {"toolUseId": block.tool_use_id, "name": block.name, "input": block.input}}
    if isinstance(block, ToolResultBlock):
        if isinstance(block.content, str):
            content: list[dict[str, Any]] = [{"text": block.content}]
        else:
            content = [_block(inner) for inner in block.content]
        result: dict[str, Any] = {"toolUseId": block.tool_use_id, "content": content}
        if block.is_error:
            result["status"] = "error"
        return {"toolResult": result}
    if isinstance(block, CachePoint):
        cache_point: dict[str, Any] = {"type": "default"}
        if block.ttl:
            cache_point["ttl"] = block.ttl
        return {"cachePoint": cache_point}
    raise TypeError(f"unknown content block {type(block).__name__}")


def converse_kwargs(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
    """Keyword arguments for `converse` / `converse_stream` of `request` on `model`.

    Raises LLMError(client_error) for requests the model is known to refuse, so no call is wasted.
    """
    if request.temperature is not None and request.top_p is not None and model.exclusive_sampling:
        raise LLMError(
            FailureKind.CLIENT_ERROR,
            model_id=model.id,
            provider_code="temperature_and_top_p",
            detail="This model accepts temperature or top_p, not both.",
        )
    max_tokens = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    inference: dict[str, Any] = {"maxTokens": max_tokens}
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop_sequences:
        inference["stopSequences"] = list(request.stop_sequences)
    kwargs: dict[str, Any] = {
        "modelId": model.id,
        "messages": [
            {"role": message.role, "content": [_block(block) for block in message.content]}
            for message in request.messages
        ],
        "inferenceConfig": inference,
    }
    if request.system:
        kwargs["system"] = [_block(block) for block in request.system]
    if request.tools:
        tool_config: dict[str, Any] = {
            "tools": [
                {"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.input_schema}}}
                for t in request.tools
            ]
        }
        if request.tool_choice == "auto":
            tool_config["toolChoice"] = {"auto": {}}
        elif request.tool_choice == "any":
            tool_config["toolChoice"] = {"any": {}}
        elif request.tool_choice:
            tool_config["toolChoice"] = {"tool": {"name": request.tool_choice}}
        kwargs["toolConfig"] = tool_config
    return kwargs


def count_tokens_kwargs(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
    converse = converse_kwargs(request, model)
    body: dict[str, Any] = {"messages": converse["messages"]}
    for key in ("system", "toolConfig"):
        if key in converse:
            body[key] = converse[key]
    return {"modelId": model.count_tokens_id, "input": {"converse": body}}


# --- Response translation ----------------------------------------------------------------------


def parse_usage(raw: dict[str, Any] | None) -> Usage | None:
    if not raw:
        return None
    return Usage(
        input_tokens=int(raw.get("inputTokens", 0)),
        output_tokens=int(raw.get("outputTokens", 0)),
        cache_read_tokens=int(raw.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(raw.get("cacheWriteInputTokens", 0)),
    )


def parse_converse_response(
    response: dict[str, Any],
) -> tuple[list[TextBlock | ToolUseBlock], StopReason, Usage | None]:
    content: list[TextBlock | ToolUseBlock] = []
    for block in response.get("output", {}).get("message", {}).get("content", []):
        if "text" in block:
            content.append(TextBlock(block["text"]))
        elif "toolUse" in block:
            tool = block["toolUse"]
            content.append(
                ToolUseBlock(tool_use_id=tool["toolUseId"], name=tool["name"], input=tool.get("input") or {})
            )
    return content, StopReason.parse(response.get("stopReason")), parse_usage(response.get("usage"))


@dataclass
class StreamAssembler:
    """Consumes ConverseStream events; yields neutral deltas and remembers how the stream ended.

    `feed` returns the text of a text delta (or "" for other events) and collects tool calls;
    `finish` raises LLMError(truncated) when the stream ended without `messageStop`.
    """

    model_id: str
    text_parts: list[str] = field(default_factory=list)
    tool_uses: list[ToolUseBlock] = field(default_factory=list)
    stop_reason: StopReason | None = None
    usage: Usage | None = None
    _tool_blocks: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def has_content(self) -> bool:
        return bool(self.text_parts or self.tool_uses or self._tool_blocks)

    def feed(self, event: dict[str, Any]) -> tuple[str, ToolUseBlock | None]:
        delta_event = event.get("contentBlockDelta")
        if delta_event is not None:
            delta = delta_event.get("delta", {})
            text = delta.get("text")
            if text is not None:
                self.text_parts.append(text)
                return text, None
            tool_delta = delta.get("toolUse")
            if tool_delta is not None:
                block = self._tool_blocks.setdefault(delta_event.get("contentBlockIndex", 0), {"input": []})
                block["input"].append(tool_delta.get("input", ""))
            return "", None
        start = event.get("contentBlockStart")
        if start is not None:
            tool = start.get("start", {}).get("toolUse")
            if tool is not None:
                block = self._tool_blocks.setdefault(start.get("contentBlockIndex", 0), {"input": []})
                block.update(tool_use_id=tool["toolUseId"], name=tool["name"])
            return "", None
        stop = event.get("contentBlockStop")
        if stop is not None:
            return "", self._close_tool_block(stop.get("contentBlockIndex", 0))
        if "messageStop" in event:
            self.stop_reason = StopReason.parse(event["messageStop"].get("stopReason"))
        elif "metadata" in event:
            self.usage = parse_usage(event["metadata"].get("usage"))
        return "", None

    def _close_tool_block(self, index: int) -> ToolUseBlock | None:
        block = self._tool_blocks.pop(index, None)
        if block is None or "name" not in block:
            return None
        raw_input = "".join(block["input"])
        try:
            parsed = json.loads(raw_input) if raw_input else {}
        except json.JSONDecodeError as exc:
            raise LLMError(
                FailureKind.MODEL_ERROR,
                model_id=self.model_id,
                provider_code="malformed_tool_input",
                detail=str(exc),
                after_content=self.has_content,
                partial_text=self.text,
            ) from exc
        tool_use = ToolUseBlock(tool_use_id=block["tool_use_id"], name=block["name"], input=parsed)
        self.tool_uses.append(tool_use)
        return tool_use

    def finish(self) -> StopReason:
        if self.stop_reason is None:
            raise LLMError(
                FailureKind.TRUNCATED,
                model_id=self.model_id,
                provider_code="no_message_stop",
                detail="The stream ended without messageStop.",
                after_content=self.has_content,
                partial_text=self.text,
            )
        return self.stop_reason
