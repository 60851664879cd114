"""Model calls with fallback: the API the rest of the product uses.

    completion = complete(request)              # sync (Celery, commands)
    completion = await acomplete(request)       # async
    for event in stream(request): ...           # sync stream
    async for event in astream(request): ...    # async stream (web process)

Each call walks the alias's fallback chain, skipping models that are cooling down and models
that cannot take the request's content (an image for a text-only model). It moves to the next
model on throttled / unavailable / timeout / model error, but only **before the first
content** was produced; a failure after that raises `LLMError(after_content=True)` with the
partial text, and the caller decides (chat ends the message as `error`). Client errors
(validation, access) never fall back. Every call, successful or not, writes one usage record
naming the model and provider that actually answered. Before any upstream call, the user's
monthly budget is checked (`backend.llm.budget`).

The loop is written once for every provider: each step that talks to a provider goes through
its adapter (`backend.llm.providers.ProviderAdapter`: Bedrock, the Anthropic API, an
OpenAI-compatible server), so a chain may mix providers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from backend.llm import budget, cooldown, providers
from backend.llm.errors import FailureKind, LLMError
from backend.llm.providers import Answer, ProviderAdapter, StreamAssembler
from backend.llm.registry import Alias, ModelSpec, get_registry
from backend.llm.tokens import estimate_request_tokens, estimate_text_tokens
from backend.llm.types import (
    Completion,
    LLMRequest,
    StopReason,
    StreamStart,
    StreamStop,
    TextBlock,
    TextDelta,
    ToolUseEvent,
    Usage,
)
from backend.llm.usage import CallReport, UsageRecord, arecord_usage, record_usage

logger = logging.getLogger(__name__)

Event = StreamStart | TextDelta | ToolUseEvent | StreamStop


def _cooldown_seconds(error: LLMError) -> float:
    if error.kind is FailureKind.THROTTLED:
        return float(settings.LLM_THROTTLE_COOLDOWN_SECONDS)
    if error.kind is FailureKind.UNAVAILABLE:
        return float(settings.LLM_UNAVAILABLE_COOLDOWN_SECONDS)
    return 0.0


def _chain_ids(request: LLMRequest) -> list[str]:
    return list(get_registry().alias(request.alias).chain)


@dataclass
class _Call:
    """Book-keeping of one logical call across its attempts; builds the usage record."""

    request: LLMRequest
    alias: Alias
    models: list[ModelSpec]
    streamed: bool
    started: float = field(default_factory=time.perf_counter)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    first_token_at: float | None = None
    report: CallReport | None = None

    @classmethod
    def plan(cls, request: LLMRequest, cooling: set[str], *, streamed: bool, report: CallReport | None = None) -> _Call:
        """The models to try, in order: the chain, cooling models last, unsuitable ones skipped.

        Cooling models are tried only if every other model failed (cooldowns are advisory).
        A model that cannot take the request's content is skipped with a logged reason; when
        no model can, the first one stays so that the call fails with its client error.
        """
        registry = get_registry()
        alias = registry.alias(request.alias)
        chain = registry.chain(request.alias)
        ordered = [m for m in chain if m.id not in cooling] + [m for m in chain if m.id in cooling]
        call = cls(request=request, alias=alias, models=[], streamed=streamed, report=report)
        for model in ordered:
            reason = providers.adapter(model.provider).unsupported(request, model)
            if reason is None:
                call.models.append(model)
                continue
            logger.info("skipping model %s of alias %s: %s", model.id, alias.name, reason)
            call.attempts.append(
                {"model": model.id, "provider": model.provider, "kind": "skipped", "code": "unsupported_content"}
            )
        if not call.models:
            call.models.append(ordered[0])
        return call

    def started_on(self, model: ModelSpec) -> StreamStart:
        """The StreamStart event, sent once, right before the first content."""
        self.first_token_at = time.perf_counter()
        return StreamStart(model_id=model.id, alias=self.alias.name)

    def elapsed_ms(self, since: float | None = None) -> int:
        return int(((since or time.perf_counter()) - self.started) * 1000)

    def failed(
        self, exc: BaseException, model: ModelSpec, adapter: ProviderAdapter, assembler: StreamAssembler | None
    ) -> LLMError:
        error = adapter.classify(
            exc,
            model_id=model.id,
            after_content=bool(assembler and assembler.has_content),
            partial_text=assembler.text if assembler else "",
        )
        self.attempts.append(
            {"model": model.id, "provider": model.provider, "kind": error.kind.value, "code": error.provider_code}
        )
        error.attempts = self.attempts
        return error

    def falls_back(self, error: LLMError, model: ModelSpec) -> bool:
        """Whether to try the next model after `error` on `model`."""
        return error.allows_fallback and model is not self.models[-1]

    def usage_for(self, assembler: StreamAssembler | None, usage: Usage | None) -> Usage:
        if usage is not None:
            return usage
        # No final usage from the provider (stream cut short, a server that reports none): count
        # locally what it did not say, keeping the input counts it sent at the start, if any.
        output_tokens = estimate_text_tokens(assembler.text if assembler else "")
        reported = assembler.input_usage if assembler else None
        if reported is not None:
            return replace(reported, output_tokens=output_tokens, estimated=True)
        return Usage(input_tokens=estimate_request_tokens(self.request), output_tokens=output_tokens, estimated=True)

    def record(
        self,
        model: ModelSpec,
        *,
        status: str,
        usage: Usage,
        stop_reason: str = "",
        error_code: str = "",
    ) -> UsageRecord:
        record = UsageRecord(
            context=self.request.context,
            alias=self.alias.name,
            model_id=model.id,
            provider=model.provider,
            streamed=self.streamed,
            status=status,
            usage=usage,
            cost=model.cost(usage),
            latency_ms=self.elapsed_ms(),
            first_token_ms=self.elapsed_ms(self.first_token_at) if self.first_token_at else None,
            stop_reason=stop_reason,
            error_code=error_code,
            # The successful (or last) attempt is the record itself; keep only the ones before it.
            attempts=[a for a in self.attempts if a["model"] != model.id or status != "ok"],
        )
        if self.report is not None:
            self.report.fill(record)
        return record

    def error_record(self, error: LLMError, model: ModelSpec, assembler: StreamAssembler | None) -> UsageRecord:
        usage = self.usage_for(assembler, assembler.usage if assembler else None)
        if not error.after_content and error.kind is not FailureKind.TRUNCATED:
            usage = Usage(estimated=True)  # nothing was generated, so nothing is billed
        record = self.record(model, status="error", usage=usage, error_code=error.code)
        error.usage, error.cost = record.usage, record.cost
        return record

    def cancelled_record(self, model: ModelSpec, assembler: StreamAssembler | None) -> UsageRecord:
        usage = self.usage_for(assembler, assembler.usage if assembler else None)
        return self.record(model, status="cancelled", usage=usage)

    def stopped(self, model: ModelSpec, assembler: StreamAssembler) -> tuple[StreamStop, UsageRecord]:
        """The StreamStop of a stream that ended well (raises LLMError(truncated) if it did not)."""
        stop_reason = assembler.finish()
        usage = self.usage_for(assembler, assembler.usage)
        record = self.record(model, status="ok", usage=usage, stop_reason=stop_reason.value)
        stop = StreamStop(
            stop_reason=stop_reason, usage=usage, model_id=model.id, cost=record.cost, latency_ms=record.latency_ms
        )
        return stop, record

    def completion(self, model: ModelSpec, answer: Answer) -> tuple[Completion, UsageRecord]:
        content, stop_reason, usage = answer
        text = "".join(block.text for block in content if isinstance(block, TextBlock))
        usage = usage or Usage(
            input_tokens=estimate_request_tokens(self.request), output_tokens=estimate_text_tokens(text), estimated=True
        )
        record = self.record(model, status="ok", usage=usage, stop_reason=stop_reason.value)
        completion = Completion(
            text=text,
            content=tuple(content),
            stop_reason=stop_reason,
            usage=usage,
            model_id=model.id,
            alias=self.alias.name,
            cost=record.cost,
            latency_ms=record.latency_ms,
        )
        return completion, record


# --- Non-streaming --------------------------------------------------------------------------------


def complete(request: LLMRequest) -> Completion:
    """One non-streaming answer, with fallback. Raises LLMError when every model failed.

    Raises BudgetExhausted (an LLMError, HTTP 402) before any upstream call when the request's
    user has used up their monthly budget (see `backend.llm.budget`).
    """
    budget.check_call_budget(request.context.user_id)
    call = _Call.plan(request, cooldown.cooling_models(_chain_ids(request)), streamed=False)
    for model in call.models:
        adapter = providers.adapter(model.provider)
        try:
            answer = adapter.complete(adapter.prepare(request, model), model)
        except Exception as exc:
            error = call.failed(exc, model, adapter, None)
            cooldown.start_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
            if call.falls_back(error, model):
                continue
            record_usage(call.error_record(error, model, None))
            raise error from exc
        completion, record = call.completion(model, answer)
        record_usage(record)
        return completion
    raise AssertionError("unreachable: a chain has at least one model")


async def acomplete(request: LLMRequest) -> Completion:
    """Async `complete`: same contract, never blocks the event loop."""
    await budget.acheck_call_budget(request.context.user_id)
    call = _Call.plan(request, await cooldown.acooling_models(_chain_ids(request)), streamed=False)
    for model in call.models:
        adapter = providers.adapter(model.provider)
        try:
            answer = await adapter.acomplete(adapter.prepare(request, model), model)
        except Exception as exc:
            error = call.failed(exc, model, adapter, None)
            await cooldown.astart_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
            if call.falls_back(error, model):
                continue
            await arecord_usage(call.error_record(error, model, None))
            raise error from exc
        completion, record = call.completion(model, answer)
        await arecord_usage(record)
        return completion
    raise AssertionError("unreachable: a chain has at least one model")


# --- Streaming -------------------------------------------------------------------------------------


def stream(request: LLMRequest, *, report: CallReport | None = None) -> Iterator[Event]:
    """Stream one answer with fallback before the first content.

    Yields StreamStart (once, right before the first content), TextDelta / ToolUseEvent, then
    StreamStop. Raises LLMError on failure; `after_content` tells whether text was already yielded.
    Closing the iterator early closes the upstream stream and records the call as cancelled.
    `report`, when given, is filled on every ending: success, failure and cancellation.
    Raises BudgetExhausted before any upstream call when the user's budget is used up (not
    inside a generation the streaming engine admitted: a running answer is never cut).
    """
    budget.check_call_budget(request.context.user_id)
    call = _Call.plan(request, cooldown.cooling_models(_chain_ids(request)), streamed=True, report=report)
    model, assembler = call.models[0], None
    finished = False
    try:
        for model in call.models:
            adapter = providers.adapter(model.provider)
            assembler = adapter.assembler(model)
            upstream = None
            try:
                upstream = adapter.open_stream(adapter.prepare(request, model), model)
                for raw_event in upstream:
                    text, tool_uses = assembler.feed(raw_event)
                    if text:  # the hot path: one cheap check per token
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield TextDelta(text)
                    if tool_uses:
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        for tool_use in tool_uses:
                            yield ToolUseEvent(tool_use)
                stop, record = call.stopped(model, assembler)
            except Exception as exc:
                error = call.failed(exc, model, adapter, assembler)
                cooldown.start_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
                if call.falls_back(error, model):
                    continue
                finished = True
                record_usage(call.error_record(error, model, assembler))
                raise error from exc
            finally:
                if upstream is not None:
                    adapter.close_stream(upstream)
            if call.first_token_at is None:
                yield call.started_on(model)  # an answer without content still names its model
            finished = True
            record_usage(record)
            yield stop
            return
    finally:
        if not finished:
            record_usage(call.cancelled_record(model, assembler))


async def astream(request: LLMRequest, *, report: CallReport | None = None) -> AsyncGenerator[Event, None]:
    """Async `stream` on the event loop: no thread per stream, the loop is never blocked.

    Same contract as `stream`. When the consumer is cancelled (client disconnect) or closes the
    generator, the upstream HTTP stream is closed and the call is recorded as cancelled.
    """
    await budget.acheck_call_budget(request.context.user_id)
    call = _Call.plan(request, await cooldown.acooling_models(_chain_ids(request)), streamed=True, report=report)
    model, assembler = call.models[0], None
    finished = False
    try:
        for model in call.models:
            adapter = providers.adapter(model.provider)
            assembler = adapter.assembler(model)
            upstream = None
            try:
                upstream = await adapter.aopen_stream(adapter.prepare(request, model), model)
                async for raw_event in upstream:
                    text, tool_uses = assembler.feed(raw_event)
                    if text:  # the hot path: one cheap check per token
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield TextDelta(text)
                    if tool_uses:
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        for tool_use in tool_uses:
                            yield ToolUseEvent(tool_use)
                stop, record = call.stopped(model, assembler)
            except Exception as exc:
                error = call.failed(exc, model, adapter, assembler)
                await cooldown.astart_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
                if call.falls_back(error, model):
                    continue
                finished = True
                await arecord_usage(call.error_record(error, model, assembler))
                raise error from exc
            finally:
                if upstream is not None:
                    await adapter.aclose_stream(upstream)
            if call.first_token_at is None:
                yield call.started_on(model)  # an answer without content still names its model
            finished = True
            await arecord_usage(record)
            yield stop
            return
    finally:
        if not finished:
            await arecord_usage(call.cancelled_record(model, assembler))


# --- Token counting ------------------------------------------------------------------------------------


def count_tokens(request: LLMRequest) -> int:
    """Exact input tokens of `request` on its alias's first model (the provider's own count).

    Falls back to the local estimate when the provider cannot count (OpenAI-compatible servers,
    a region without CountTokens, throttling): a budget check must not fail because counting failed.
    """
    model = get_registry().chain(request.alias)[0]
    adapter = providers.adapter(model.provider)
    try:
        return adapter.count_tokens(request, model)
    except Exception as exc:  # noqa: BLE001 - classify() re-raises anything that is not a provider failure
        adapter.classify(exc, model_id=model.id)
        return estimate_request_tokens(request)


async def acount_tokens(request: LLMRequest) -> int:
    model = get_registry().chain(request.alias)[0]
    adapter = providers.adapter(model.provider)
    try:
        return await adapter.acount_tokens(request, model)
    except Exception as exc:  # noqa: BLE001 - classify() re-raises anything that is not a provider failure
        adapter.classify(exc, model_id=model.id)
        return estimate_request_tokens(request)


use_api_keys = providers.use_api_keys


async def awarm_clients() -> None:
    """ASGI startup: create the providers' heavy async clients for the server's event loop."""
    await providers.awarm_clients()


async def aclose_clients() -> None:
    """Close every provider's async clients of the running event loop (server shutdown, tests)."""
    await providers.aclose_clients()


__all__ = [
    "StopReason",
    "acomplete",
    "acount_tokens",
    "astream",
    "complete",
    "count_tokens",
    "stream",
]
