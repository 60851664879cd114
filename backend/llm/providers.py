"""The provider adapter interface, and what every adapter shares.

`backend.llm.service` runs the fallback loop once, for every provider; each step it needs
from a provider goes through a `ProviderAdapter`:

| step | sync | async |
|---|---|---|
| can this model take the request's content? | `unsupported` | |
| build the provider request (may refuse with a client error) | `prepare` | |
| stream: open, iterate raw events, close | `open_stream`, `close_stream` | `aopen_stream`, `aclose_stream` |
| turn raw events into deltas | `assembler(model).feed` | |
| one non-streaming answer | `complete` | `acomplete` |
| exact input tokens | `count_tokens` | `acount_tokens` |
| map any exception into the taxonomy | `classify` | |

Adapters: `bedrock` (boto3/aiobotocore), `anthropic_api` (the `anthropic` SDK) and
`openai_compat` (the `openai` SDK against any Chat Completions server). Each is the only
module importing its SDK, and is imported only when a model of its provider is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import importlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from backend.llm.errors import FailureKind, LLMError
from backend.llm.types import (
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

if TYPE_CHECKING:
    from backend.llm.registry import ModelSpec

# Provider name (the `provider` of a registry entry) -> adapter module.
PROVIDERS = {
    "bedrock": "backend.llm.bedrock",
    "anthropic": "backend.llm.anthropic_api",
    "openai": "backend.llm.openai_compat",
}

NO_TOOL_USES: tuple[ToolUseBlock, ...] = ()

# What a non-streaming answer is reduced to: content, stop reason, usage (None if not reported).
Answer = tuple[list[TextBlock | ToolUseBlock], StopReason, Usage | None]


class ProviderAdapter(Protocol):
    name: str

    def unsupported(self, request: LLMRequest, model: ModelSpec) -> str | None:
        """Why `model` cannot take the request's content (an image for a text-only model), or None."""
        ...

    def prepare(self, request: LLMRequest, model: ModelSpec) -> Any:
        """The provider request; raises LLMError(client_error) for a request the model would refuse."""
        ...

    def assembler(self, model: ModelSpec) -> StreamAssembler: ...

    def open_stream(self, prepared: Any, model: ModelSpec) -> Any:
        """An iterable of raw stream events (the HTTP response is open until `close_stream`)."""
        ...

    def close_stream(self, stream: Any) -> None: ...

    async def aopen_stream(self, prepared: Any, model: ModelSpec) -> Any:
        """An async iterable of raw stream events, on the running event loop (no thread)."""
        ...

    async def aclose_stream(self, stream: Any) -> None: ...

    def complete(self, prepared: Any, model: ModelSpec) -> Answer: ...

    async def acomplete(self, prepared: Any, model: ModelSpec) -> Answer: ...

    def count_tokens(self, request: LLMRequest, model: ModelSpec) -> int:
        """Exact input tokens, or the local estimate where the provider cannot count."""
        ...

    async def acount_tokens(self, request: LLMRequest, model: ModelSpec) -> int: ...

    def classify(
        self, exc: BaseException, *, model_id: str | None, after_content: bool = False, partial_text: str = ""
    ) -> LLMError:
        """Map any exception of a call into an LLMError; re-raise what is not a provider failure."""
        ...

    async def aclose_clients(self) -> None:
        """Close the running loop's async clients (server shutdown, tests)."""
        ...

    def reset_clients(self) -> None:
        """Forget cached sync clients (settings changed)."""
        ...


_adapters: dict[str, ProviderAdapter] = {}


def adapter(provider: str) -> ProviderAdapter:
    """The adapter of `provider` (its SDK is imported on first use)."""
    found = _adapters.get(provider)
    if found is None:
        found = _adapters[provider] = importlib.import_module(PROVIDERS[provider]).ADAPTER
    return found


def preload() -> None:
    """Import the adapters (and their SDKs) of every provider an alias uses, then freeze the heap.

    An SDK import takes up to a second or two; done lazily, the first call to a provider would
    stall the event loop, and every stream on it, for that long. The SDKs also bring hundreds of
    thousands of long-lived objects (anthropic and openai together: ~175,000, mostly pydantic
    models) that every full garbage collection would scan again: pauses of 100+ ms on the event
    loop under load. `gc.freeze()` moves what exists now out of the collector's sight.
    Also validates the registry.
    """
    from backend.llm.registry import get_registry

    registry = get_registry()
    used = {registry.model(model_id).provider for alias in registry.aliases.values() for model_id in alias.chain}
    for provider in sorted(used):
        adapter(provider)
    gc.freeze()


async def awarm_clients() -> None:
    """Create the async clients of the loaded adapters that build heavy ones lazily, for the running loop.

    A Bedrock client loads botocore's service model (tens of thousands of objects) on its first
    call: created at startup, before `backend.lifespan.freeze_heap`, they are frozen with the rest.
    """
    for loaded in list(_adapters.values()):
        warm = getattr(loaded, "awarm_clients", None)
        if warm is not None:
            await warm()


async def aclose_clients() -> None:
    """Close the async clients every loaded adapter holds for the running event loop."""
    for loaded in list(_adapters.values()):
        await loaded.aclose_clients()


def reset_clients() -> None:
    for loaded in list(_adapters.values()):
        loaded.reset_clients()


# --- Shared by the adapters ------------------------------------------------------------------------


def check_sampling(request: LLMRequest, model: ModelSpec) -> None:
    """Claude 4.5+ refuse temperature together with top_p: refuse before wasting a call."""
    if request.temperature is not None and request.top_p is not None and model.exclusive_sampling:
        raise LLMError(
            FailureKind.CLIENT_ERROR,
            model_id=model.id,
            provider_code="temperature_and_top_p",
            detail="This model accepts temperature or top_p, not both.",
        )


def max_tokens(request: LLMRequest, model: ModelSpec) -> int:
    return min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)


def content_counts(request: LLMRequest) -> tuple[int, int, set[str]]:
    """(images, documents, document formats) in the request's messages, tool results included."""
    images = documents = 0
    formats: set[str] = set()
    for message in request.messages:
        for block in message.content:
            inner = block.content if isinstance(block, ToolResultBlock) and not isinstance(block.content, str) else ()
            for item in (block, *inner):
                if isinstance(item, ImageBlock):
                    images += 1
                elif isinstance(item, DocumentBlock):
                    documents += 1
                    formats.add(item.format)
    return images, documents, formats


def unsupported_content(request: LLMRequest, model: ModelSpec, document_formats: frozenset[str]) -> str | None:
    """Why `model` cannot take the request's images or documents (limits and formats), or None."""
    images, documents, formats = content_counts(request)
    if images > model.max_images:
        return f"{images} image(s), the model takes {model.max_images}"
    if documents > model.max_documents:
        return f"{documents} document(s), the model takes {model.max_documents}"
    refused = sorted(formats - document_formats)
    if refused:
        return f"document format(s) {', '.join(refused)} not supported by the {model.provider} API"
    return None


@dataclass
class StreamAssembler:
    """Consumes a provider's raw stream events; yields neutral deltas and remembers how the stream ended.

    Subclasses implement `feed(event) -> (text, tool uses)`, appending text to `text_parts`,
    opening tool blocks in `tool_blocks` and closing them with `close_tool_block`;
    `finish` raises LLMError(truncated) when the stream ended without its terminal event.
    """

    model_id: str
    text_parts: list[str] = field(default_factory=list)
    tool_uses: list[ToolUseBlock] = field(default_factory=list)
    stop_reason: StopReason | None = None
    usage: Usage | None = None  # the final usage, once the provider sent it
    # Input-side usage the provider reported at the start (Anthropic's message_start), if any.
    input_usage: Usage | None = None
    tool_blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    terminal_event: str = "the end of the stream"

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def has_content(self) -> bool:
        return bool(self.text_parts or self.tool_uses or self.tool_blocks)

    def feed(self, event: Any) -> tuple[str, tuple[ToolUseBlock, ...]]:
        raise NotImplementedError

    def close_tool_block(self, index: int) -> ToolUseBlock | None:
        block = self.tool_blocks.pop(index, None)
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
                detail=f"The stream ended without {self.terminal_event}.",
                after_content=self.has_content,
                partial_text=self.text,
            )
        return self.stop_reason


def stop_reason_parser(mapping: dict[str | None, StopReason]) -> Callable[[str | None], StopReason]:
    """A provider stop reason -> StopReason mapper (unknown values: StopReason.parse)."""

    def parse(value: str | None) -> StopReason:
        found = mapping.get(value)
        return found if found is not None else StopReason.parse(value)

    return parse


class AdapterBase:
    """What adapters share: the content check, `prepare` around `arguments`, the assembler."""

    name: str
    document_formats: frozenset[str]
    assembler_class: type[StreamAssembler]

    def unsupported(self, request: LLMRequest, model: ModelSpec) -> str | None:
        return unsupported_content(request, model, self.document_formats)

    def prepare(self, request: LLMRequest, model: ModelSpec) -> Any:
        reason = self.unsupported(request, model)
        if reason is not None:
            raise LLMError(
                FailureKind.CLIENT_ERROR, model_id=model.id, provider_code="unsupported_content", detail=reason
            )
        return self.arguments(request, model)

    def arguments(self, request: LLMRequest, model: ModelSpec) -> Any:
        """The provider request of `request` on `model` (raises LLMError for one it would refuse)."""
        raise NotImplementedError

    def assembler(self, model: ModelSpec) -> StreamAssembler:
        return self.assembler_class(model.id)


# --- Clients of the HTTP-API providers (Anthropic, OpenAI-compatible) --------------------------------


# Keys a caller supplies for the calls it makes in this context (`use_api_keys`), by provider.
_key_overrides: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "llm_api_key_overrides", default=None
)


@contextlib.contextmanager
def use_api_keys(keys: Mapping[str, str]) -> Iterator[None]:
    """Within this context (this task or thread), calls to `provider` use `keys[provider]`.

    For a feature whose operator enters its own key (the admin assistant's AI settings): the
    key lives in memory for the call only and, as every key, never reaches a log or the ledger.
    """
    token = _key_overrides.set(dict(keys))
    try:
        yield
    finally:
        _key_overrides.reset(token)


def api_key(model: ModelSpec, *, required: bool) -> str | None:
    """The model's API key: one supplied with `use_api_keys`, else the environment variable its
    entry names (never stored).

    A named variable that is unset is a client error (the call cannot be authenticated), as is
    a provider that needs a key and has no variable named.
    """
    supplied = (_key_overrides.get() or {}).get(model.provider)
    if supplied:
        return supplied
    if model.api_key_env:
        value = os.environ.get(model.api_key_env)
        if value:
            return value
        detail = f"The environment variable {model.api_key_env} holding the API key is not set."
    elif required:
        detail = "No api_key_env is configured for this model."
    else:
        return None
    raise LLMError(FailureKind.CLIENT_ERROR, model_id=model.id, provider_code="no_credentials", detail=detail)


class ClientCache:
    """SDK clients shared by every call with the same connection: one sync client per connection,
    one async client per connection and event loop (an async connection pool belongs to one loop).

    The anthropic and openai clients take the same arguments: key, base URL, timeouts (the read
    timeout bounds the silence between two stream events) and the SDK's own retries.
    `no_key` is sent when the entry names no key variable (local servers need none).
    """

    def __init__(
        self,
        sync_factory: Callable[..., Any],
        async_factory: Callable[..., Any],
        timeout_factory: Callable[..., Any],
        *,
        key_required: bool,
        no_key: str | None = None,
    ) -> None:
        self._factories = {False: sync_factory, True: async_factory}
        self._timeout = timeout_factory
        self._key_required = key_required
        self._no_key = no_key
        self._sync: dict[tuple[Any, ...], Any] = {}
        self._async: dict[Any, dict[tuple[Any, ...], Any]] = {}

    def _make(self, model: ModelSpec, key: str | None, *, stream: bool, async_: bool) -> Any:
        read = settings.LLM_STREAM_READ_TIMEOUT if stream else settings.LLM_READ_TIMEOUT
        return self._factories[async_](
            api_key=key or self._no_key,
            base_url=model.base_url,
            timeout=self._timeout(read, connect=settings.LLM_CONNECT_TIMEOUT),
            max_retries=settings.LLM_PROVIDER_MAX_RETRIES,
        )

    def _key(self, model: ModelSpec, stream: bool) -> tuple[tuple[Any, ...], str | None]:
        key = api_key(model, required=self._key_required)
        return (
            stream,
            model.base_url,
            model.api_key_env,
            key,
            settings.LLM_CONNECT_TIMEOUT,
            settings.LLM_STREAM_READ_TIMEOUT if stream else settings.LLM_READ_TIMEOUT,
            settings.LLM_PROVIDER_MAX_RETRIES,
        ), key

    def sync(self, model: ModelSpec, *, stream: bool) -> Any:
        cache_key, key = self._key(model, stream)
        client = self._sync.get(cache_key)
        if client is None:
            client = self._sync.setdefault(cache_key, self._make(model, key, stream=stream, async_=False))
        return client

    def async_(self, model: ModelSpec, *, stream: bool) -> Any:
        clients = self._async.setdefault(asyncio.get_running_loop(), {})
        cache_key, key = self._key(model, stream)
        client = clients.get(cache_key)
        if client is None:
            client = clients[cache_key] = self._make(model, key, stream=stream, async_=True)
        return client

    async def aclose(self) -> None:
        for client in self._async.pop(asyncio.get_running_loop(), {}).values():
            await client.close()

    def reset(self) -> None:
        self._sync.clear()
        for loop in [loop for loop in self._async if loop.is_closed()]:
            self._async.pop(loop, None)


class SdkAdapter(AdapterBase):
    """An adapter over an httpx-based SDK (anthropic, openai): clients from a `ClientCache`."""

    clients: ClientCache

    def close_stream(self, stream: Any) -> None:
        stream.close()

    async def aclose_stream(self, stream: Any) -> None:
        await stream.close()

    async def aclose_clients(self) -> None:
        await self.clients.aclose()

    def reset_clients(self) -> None:
        self.clients.reset()
