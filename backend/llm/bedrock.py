"""The Bedrock Runtime adapter: the only module that talks to boto3/aiobotocore.

- Failures: every botocore/urllib3/aiohttp shape mapped into the taxonomy (`classify`).
- Clients: a sync boto3 client (Celery, management commands) and an aiobotocore client per
  event loop (the web process: no thread per stream, the loop is never blocked).
- Translation: provider-neutral `LLMRequest` → Converse/ConverseStream keyword arguments,
  and Converse responses / stream events → neutral types.

botocore's own retries are limited to one (standard mode): fallback between models is ours.
For streams the read timeout bounds the gap between two events, not the whole answer.

The web process's Converse and ConverseStream calls skip the per-call front of the client's
pipeline (`send`): what depends only on the model is computed once per model, the body is one
`json.dumps`, and botocore's endpoint does the rest (signing, retries, HTTP, parsing).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import boto3
from aiobotocore.session import get_session
from botocore import exceptions as boto_exc
from botocore import xform_name
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.parsers import ResponseParserError
from django.conf import settings
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

from backend.llm import providers
from backend.llm.errors import FailureKind, LLMError, kind_for_status
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

SERVICE = "bedrock-runtime"
# Converse takes these document formats (the service model's DocumentFormat).
DOCUMENT_FORMATS = frozenset({"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"})


# --- Failures ------------------------------------------------------------------------------------

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


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, boto_exc.ReadTimeoutError)):
        return True
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
    return isinstance(exc, (ProtocolError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError))


def classify(
    exc: BaseException, *, model_id: str | None, after_content: bool = False, partial_text: str = ""
) -> LLMError:
    """Map any exception raised by a Bedrock call into an `LLMError`.

    Order matters: EventStreamError is a ClientError subclass; botocore's ConnectTimeoutError
    is a ConnectionError; aiohttp's socket timeouts are TimeoutErrors. Exception frames arrive
    as EventStreamError with status 400 whatever they mean: they are classified by their code.
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
                kind = kind_for_status(int(status))
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


# --- Clients -------------------------------------------------------------------------------------


def _client_config(*, stream: bool) -> Config:
    return Config(
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_STREAM_READ_TIMEOUT if stream else settings.LLM_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=settings.LLM_MAX_POOL_CONNECTIONS,
        tcp_keepalive=True,
        # The request is built from typed objects (`converse_kwargs`) and Bedrock validates it
        # (a malformed one is a ValidationException, classified like any 400). botocore's own
        # check walked every message of the history again on each call: ~0.8 ms of CPU per
        # answer, more for long chats.
        parameter_validation=False,
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
    # (client settings key, operation, model id) -> the request that model's calls start from.
    templates: dict[tuple[Any, ...], _Template | None] = field(default_factory=dict)


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


# --- Sending a call ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    """What every call of one operation on one model shares, as botocore's client computes it."""

    operation: Any  # botocore OperationModel
    request_dict: dict[str, Any]  # url, method, headers (User-Agent included), context; no body yet


async def _template(client: Any, key: tuple[Any, ...], operation_name: str, model_id: str) -> _Template | None:
    """The request of `operation_name` on `model_id` without its body, resolved once per model.

    botocore's client resolves the endpoint from its rule set, runs the parameter hooks and walks
    every message of the history through its serializer on every call (`bench/bedrock_send.py`:
    a call costs 1.5x the CPU this way at 201 messages, 1.18x at one). None of it depends on more
    than the model id: the endpoint (region, FIPS, dual-stack), the URL with the model id escaped,
    the headers and the signing context are taken from the client's own methods once, and only
    the body is new per call. None when the operation has a trait that is applied per call (a request checksum or
    compression): such calls take the client's full path.
    """
    entry = _async_clients[asyncio.get_running_loop()]
    cache_key = (key, operation_name, model_id)
    if cache_key in entry.templates:
        return entry.templates[cache_key]
    operation = client.meta.service_model.operation_model(operation_name)
    template: _Template | None = None
    if not (operation.http_checksum or operation.request_compression or operation.has_streaming_input):
        context: dict[str, Any] = {
            "client_region": client.meta.region_name,
            "client_config": client.meta.config,
            "has_streaming_input": False,
            "auth_type": operation.resolved_auth_type,
            "unsigned_payload": operation.unsigned_payload,
            "auth_options": client.meta.service_model.metadata.get("auth"),
        }
        params = {"modelId": model_id}
        endpoint_url, headers, properties = await client._resolve_endpoint_ruleset(operation, params, context)
        if properties:
            context["endpoint_properties"] = properties
        # A placeholder member so the serializer writes the body's headers (Content-Type).
        request_dict = await client._convert_to_request_dict(
            {**params, "messages": []}, operation, endpoint_url, context=context, headers=headers
        )
        request_dict.pop("body")
        template = _Template(operation=operation, request_dict=request_dict)
    entry.templates[cache_key] = template
    return template


def _blob(value: Any) -> str:
    """Blob members (image and document bytes) as botocore's JSON serializer writes them: base64."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("utf-8")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _request_dict(template: _Template, params: dict[str, Any]) -> dict[str, Any]:
    """A fresh request dict: the template's, with its own headers, context and `params` as the body."""
    base = template.request_dict
    context = {name: dict(value) if isinstance(value, dict) else value for name, value in base["context"].items()}
    return {
        **base,
        "headers": dict(base["headers"]),
        "context": context,
        "body": json.dumps(params, default=_blob).encode(),
    }


async def send(operation_name: str, prepared: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """`operation_name` (Converse or ConverseStream) with `prepared` (`converse_kwargs`), parsed.

    The same request, signature, retries (the client's standard-mode handler and retry quota),
    HTTP session and parsed response as `client.converse(**prepared)`, errors raised as the same
    modeled exceptions; only the per-call front of the client's pipeline is skipped (`_template`).
    `tests/backend/llm/test_bedrock_send.py` compares the requests the two paths send and what
    they return.
    """
    client = await async_client(stream=stream)
    params = dict(prepared)
    model_id = params.pop("modelId")
    template = await _template(client, _settings_key(stream), operation_name, model_id)
    if template is None:
        return await getattr(client, xform_name(operation_name))(**prepared)
    request_dict = _request_dict(template, params)
    context = request_dict["context"]
    operation = template.operation
    events = f"{client.meta.service_model.service_id.hyphenize()}.{operation_name}"
    # The client's per-call hooks around the request, as `_make_api_call` runs them: `before-call`
    # (headers; a stubbed response), `after-call` (the standard retry handler gives back the retry
    # quota a successful call earned), `after-call-error`.
    _, stubbed = await client.meta.events.emit_until_response(
        f"before-call.{events}",
        model=operation,
        params=request_dict,
        request_signer=client._request_signer,
        context=context,
    )
    if stubbed is not None:
        http, parsed = stubbed
    else:
        try:
            http, parsed = await client._endpoint.make_request(operation, request_dict)
        except Exception as exc:
            await client.meta.events.emit(f"after-call-error.{events}", exception=exc, context=context)
            raise
    await client.meta.events.emit(
        f"after-call.{events}", http_response=http, parsed=parsed, model=operation, context=context
    )
    if http.status_code >= 300:
        code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
        raise client.exceptions.from_code(code)(parsed, operation_name)
    return dict(parsed)


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
    check_sampling(request, model)
    inference: dict[str, Any] = {"maxTokens": max_tokens(request, model)}
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop_sequences:
        inference["stopSequences"] = list(request.stop_sequences)
    kwargs: dict[str, Any] = {
        "modelId": model.provider_model_id,
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
class StreamAssembler(providers.StreamAssembler):
    """Consumes ConverseStream events: text deltas, toolUse blocks, messageStop, metadata."""

    terminal_event: str = "messageStop"

    def feed(self, event: dict[str, Any]) -> tuple[str, tuple[ToolUseBlock, ...]]:
        delta_event = event.get("contentBlockDelta")
        if delta_event is not None:
            delta = delta_event.get("delta", {})
            text = delta.get("text")
            if text is not None:
                self.text_parts.append(text)
                return text, NO_TOOL_USES
            tool_delta = delta.get("toolUse")
            if tool_delta is not None:
                block = self.tool_blocks.setdefault(delta_event.get("contentBlockIndex", 0), {"input": []})
                block["input"].append(tool_delta.get("input", ""))
            return "", NO_TOOL_USES
        start = event.get("contentBlockStart")
        if start is not None:
            tool = start.get("start", {}).get("toolUse")
            if tool is not None:
                block = self.tool_blocks.setdefault(start.get("contentBlockIndex", 0), {"input": []})
                block.update(tool_use_id=tool["toolUseId"], name=tool["name"])
            return "", NO_TOOL_USES
        stop = event.get("contentBlockStop")
        if stop is not None:
            tool_use = self.close_tool_block(stop.get("contentBlockIndex", 0))
            return "", (tool_use,) if tool_use is not None else NO_TOOL_USES
        if "messageStop" in event:
            self.stop_reason = StopReason.parse(event["messageStop"].get("stopReason"))
        elif "metadata" in event:
            self.usage = parse_usage(event["metadata"].get("usage"))
        return "", NO_TOOL_USES


class DeltaFastStream:
    """An aiobotocore ConverseStream event stream whose text deltas skip the shape parser.

    botocore decodes each frame (`EventStreamBuffer`: prelude, headers, CRCs), then runs the
    event's payload through its model-driven response parser, which is about half of what a
    token costs the stream. A text delta's payload is a small JSON object whose parsed form is
    that object itself, so it is decoded with `json.loads` when it has exactly the modeled shape
    (`{"delta": {"text": str}, "contentBlockIndex": int}` and Bedrock's padding). Every other event, every exception
    event and any payload that does not match goes through botocore's parser as before, so
    errors, tool use, usage and the stop reason keep botocore's exact behaviour
    (`tests/backend/llm/test_bedrock_fast_stream.py` compares the two on every event kind).
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        stream = self._stream
        # The body is read and framed as aiobotocore's own event generator does it (botocore's
        # `EventStreamBuffer`), minus that generator: one async step per event fewer.
        buffer = EventStreamBuffer()
        async for data in stream._raw_stream.content.iter_any():
            buffer.add_data(data)
            for message in buffer:
                headers = message.headers
                if headers.get(":event-type") == "contentBlockDelta" and headers.get(":message-type") == "event":
                    delta = _text_delta(message.payload)
                    if delta is not None:
                        yield {"contentBlockDelta": delta}
                        continue
                parsed = await stream._parse_event(message)
                if parsed:
                    yield parsed

    def close(self) -> None:
        self._stream.close()


def _text_delta(payload: bytes) -> dict[str, Any] | None:
    """A `contentBlockDelta` payload as botocore would parse it, when it is a plain text delta.

    Bedrock pads every event with a random-length `"p"` member, which is not modeled: botocore
    drops it, and so does this.
    """
    try:
        data = json.loads(payload.decode())  # str: json.loads would sniff a bytes payload's encoding
    except ValueError:  # UnicodeDecodeError included
        return None  # botocore's parser reports it
    if not isinstance(data, dict) or not data.keys() <= _TEXT_DELTA_MEMBERS:
        return None
    delta = data.get("delta")
    if not isinstance(delta, dict) or delta.keys() != {"text"} or not isinstance(delta["text"], str):
        return None
    if "contentBlockIndex" not in data:
        return {"delta": delta}
    index = data["contentBlockIndex"]
    if type(index) is not int:
        return None
    return {"delta": delta, "contentBlockIndex": index}


_TEXT_DELTA_MEMBERS = frozenset({"delta", "contentBlockIndex", "p"})


# --- The adapter ---------------------------------------------------------------------------------------


class BedrockAdapter(providers.AdapterBase):
    """Bedrock Runtime's Converse APIs (see `backend.llm.providers.ProviderAdapter`)."""

    name = "bedrock"
    document_formats = DOCUMENT_FORMATS
    assembler_class = StreamAssembler
    arguments = staticmethod(converse_kwargs)
    classify = staticmethod(classify)

    def open_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        return sync_client(stream=True).converse_stream(**prepared)["stream"]

    def close_stream(self, stream: Any) -> None:
        stream.close()

    async def aopen_stream(self, prepared: dict[str, Any], model: ModelSpec) -> Any:
        return DeltaFastStream((await send("ConverseStream", prepared, stream=True))["stream"])

    async def aclose_stream(self, stream: Any) -> None:
        stream.close()

    def complete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_converse_response(sync_client(stream=False).converse(**prepared))

    async def acomplete(self, prepared: dict[str, Any], model: ModelSpec) -> Answer:
        return parse_converse_response(await send("Converse", prepared, stream=False))

    def count_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        """Bedrock CountTokens with the bare foundation-model id (it refuses inference profiles)."""
        response = sync_client(stream=False).count_tokens(**count_tokens_kwargs(request, model))
        return int(response["inputTokens"])

    async def acount_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        client = await async_client(stream=False)
        response = await client.count_tokens(**count_tokens_kwargs(request, model))
        return int(response["inputTokens"])

    async def awarm_clients(self) -> None:
        await async_client(stream=True)
        await async_client(stream=False)

    async def aclose_clients(self) -> None:
        await aclose_clients()

    def reset_clients(self) -> None:
        reset_clients()


ADAPTER = BedrockAdapter()
