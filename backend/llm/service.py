"""Model calls with fallback: the API the rest of the product uses.

    completion = complete(request)              # sync (Celery, commands)
    completion = await acomplete(request)       # async
    for event in stream(request): ...           # sync stream
    async for event in astream(request): ...    # async stream (web process)

Each call walks the alias's fallback chain, skipping models that are cooling down. It moves
to the next model on throttled / unavailable / timeout / model error, but only **before the
first content** was produced; a failure after that raises `LLMError(after_content=True)`
with the partial text, and the caller decides (chat ends the message as `error`). Client
errors (validation, access) never fall back. Every call, successful or not, writes one
usage record naming the model that actually answered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from backend.llm import bedrock, cooldown
from backend.llm.errors import FailureKind, LLMError, classify
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


def _order(chain: list[ModelSpec], cooling: set[str]) -> list[ModelSpec]:
    """Models not cooling down first (chain order), then the cooling ones as a last resort."""
    return [m for m in chain if m.id not in cooling] + [m for m in chain if m.id in cooling]


def _cooldown_seconds(error: LLMError) -> float:
    if error.kind is FailureKind.THROTTLED:
        return float(settings.LLM_THROTTLE_COOLDOWN_SECONDS)
    if error.kind is FailureKind.UNAVAILABLE:
        return float(settings.LLM_UNAVAILABLE_COOLDOWN_SECONDS)
    return 0.0


@dataclass
class _Call:
    """Book-keeping of one logical call across its attempts; builds the usage record."""

    request: LLMRequest
    alias: Alias
    streamed: bool
    started: float = field(default_factory=time.perf_counter)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    first_token_at: float | None = None
    report: CallReport | None = None

    def started_on(self, model: ModelSpec) -> StreamStart:
        """The StreamStart event, sent once, right before the first content."""
        self.first_token_at = time.perf_counter()
        return StreamStart(model_id=model.id, alias=self.alias.name)

    def elapsed_ms(self, since: float | None = None) -> int:
        return int(((since or time.perf_counter()) - self.started) * 1000)

    def failed(self, exc: BaseException, model: ModelSpec, assembler: bedrock.StreamAssembler | None) -> LLMError:
        error = classify(
            exc,
            model_id=model.id,
            after_content=bool(assembler and assembler.has_content),
            partial_text=assembler.text if assembler else "",
        )
        self.attempts.append({"model": model.id, "kind": error.kind.value, "code": error.provider_code})
        error.attempts = self.attempts
        return error

    def usage_for(self, model: ModelSpec, assembler: bedrock.StreamAssembler | None, usage: Usage | None) -> Usage:
        if usage is not None:
            return usage
        # No usage from the provider (stream cut short): count locally so the ledger is never empty.
        return Usage(
            input_tokens=estimate_request_tokens(self.request),
            output_tokens=estimate_text_tokens(assembler.text if assembler else ""),
            estimated=True,
        )

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

    def error_record(self, error: LLMError, model: ModelSpec, assembler: bedrock.StreamAssembler | None) -> UsageRecord:
        usage = self.usage_for(model, assembler, assembler.usage if assembler else None)
        if not error.after_content and error.kind is not FailureKind.TRUNCATED:
            usage = Usage(estimated=True)  # nothing was generated, so nothing is billed
        record = self.record(model, status="error", usage=usage, error_code=error.code)
        error.usage, error.cost = record.usage, record.cost
        return record


def _plan(request: LLMRequest, cooling: set[str] | None = None) -> tuple[Alias, list[ModelSpec]]:
    registry = get_registry()
    alias = registry.alias(request.alias)
    chain = registry.chain(request.alias)
    return alias, _order(chain, cooling or set())


def _chain_ids(request: LLMRequest) -> list[str]:
    return list(get_registry().alias(request.alias).chain)


# --- Non-streaming --------------------------------------------------------------------------------


def _completion(call: _Call, model: ModelSpec, response: dict[str, Any]) -> tuple[Completion, UsageRecord]:
    content, stop_reason, usage = bedrock.parse_converse_response(response)
    text = "".join(block.text for block in content if isinstance(block, TextBlock))
    usage = usage or Usage(
        input_tokens=estimate_request_tokens(call.request), output_tokens=estimate_text_tokens(text), estimated=True
    )
    record = call.record(model, status="ok", usage=usage, stop_reason=stop_reason.value)
    completion = Completion(
        text=text,
        content=tuple(content),
        stop_reason=stop_reason,
        usage=usage,
        model_id=model.id,
        alias=call.alias.name,
        cost=record.cost,
        latency_ms=record.latency_ms,
    )
    return completion, record


def complete(request: LLMRequest) -> Completion:
    """One non-streaming answer, with fallback. Raises LLMError when every model failed."""
    alias, models = _plan(request, cooldown.cooling_models(_chain_ids(request)))
    call = _Call(request=request, alias=alias, streamed=False)
    for index, model in enumerate(models):
        try:
            response = bedrock.sync_client(stream=False).converse(**bedrock.converse_kwargs(request, model))
        except Exception as exc:
            error = call.failed(exc, model, None)
            cooldown.start_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
            if error.allows_fallback and index < len(models) - 1:
                continue
            record_usage(call.error_record(error, model, None))
            raise error from exc
        completion, record = _completion(call, model, response)
        record_usage(record)
        return completion
    raise AssertionError("unreachable: a chain has at least one model")


async def acomplete(request: LLMRequest) -> Completion:
    """Async `complete`: same contract, never blocks the event loop."""
    alias, models = _plan(request, await cooldown.acooling_models(_chain_ids(request)))
    call = _Call(request=request, alias=alias, streamed=False)
    for index, model in enumerate(models):
        try:
            client = await bedrock.async_client(stream=False)
            response = await client.converse(**bedrock.converse_kwargs(request, model))
        except Exception as exc:
            error = call.failed(exc, model, None)
            await cooldown.astart_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
            if error.allows_fallback and index < len(models) - 1:
                continue
            await arecord_usage(call.error_record(error, model, None))
            raise error from exc
        completion, record = _completion(call, model, response)
        await arecord_usage(record)
        return completion
    raise AssertionError("unreachable: a chain has at least one model")


# --- Streaming -------------------------------------------------------------------------------------


def _stop_event(call: _Call, model: ModelSpec, assembler: bedrock.StreamAssembler) -> tuple[StreamStop, UsageRecord]:
    stop_reason = assembler.finish()
    usage = call.usage_for(model, assembler, assembler.usage)
    record = call.record(model, status="ok", usage=usage, stop_reason=stop_reason.value)
    return StreamStop(
        stop_reason=stop_reason, usage=usage, model_id=model.id, cost=record.cost, latency_ms=record.latency_ms
    ), record


def stream(
    request: LLMRequest, *, report: CallReport | None = None
) -> Iterator[StreamStart | TextDelta | ToolUseEvent | StreamStop]:
    """Stream one answer with fallback before the first content.

    Yields StreamStart (once, right before the first content), TextDelta / ToolUseEvent, then
    StreamStop. Raises LLMError on failure; `after_content` tells whether text was already yielded.
    Closing the iterator early closes the upstream stream and records the call as cancelled.
    """
    alias, models = _plan(request, cooldown.cooling_models(_chain_ids(request)))
    call = _Call(request=request, alias=alias, streamed=True, report=report)
    model, assembler = models[0], None
    finished = False
    try:
        for index, model in enumerate(models):
            assembler = bedrock.StreamAssembler(model.id)
            event_stream = None
            try:
                kwargs = bedrock.converse_kwargs(request, model)
                event_stream = bedrock.sync_client(stream=True).converse_stream(**kwargs)["stream"]
                for raw_event in event_stream:
                    text, tool_use = assembler.feed(raw_event)
                    if text:  # the hot path: one cheap check per token
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield TextDelta(text)
                    elif tool_use is not None:
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield ToolUseEvent(tool_use)
                stop, record = _stop_event(call, model, assembler)
            except Exception as exc:
                error = call.failed(exc, model, assembler)
                cooldown.start_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
                if error.allows_fallback and index < len(models) - 1:
                    continue
                finished = True
                record_usage(call.error_record(error, model, assembler))
                raise error from exc
            finally:
                if event_stream is not None:
                    event_stream.close()
            if call.first_token_at is None:
                yield call.started_on(model)  # an answer without content still names its model
            finished = True
            record_usage(record)
            yield stop
            return
    finally:
        if not finished:
            usage = call.usage_for(model, assembler, assembler.usage if assembler else None)
            record_usage(call.record(model, status="cancelled", usage=usage))


async def astream(
    request: LLMRequest, *, report: CallReport | None = None
) -> AsyncIterator[StreamStart | TextDelta | ToolUseEvent | StreamStop]:
    """Async `stream` over aiobotocore: no thread per stream, the event loop is never blocked.

    Same contract as `stream`. When the consumer is cancelled (client disconnect) or closes the
    generator, the upstream HTTP stream is closed and the call is recorded as cancelled.
    """
    alias, models = _plan(request, await cooldown.acooling_models(_chain_ids(request)))
    call = _Call(request=request, alias=alias, streamed=True, report=report)
    model, assembler = models[0], None
    finished = False
    try:
        for index, model in enumerate(models):
            assembler = bedrock.StreamAssembler(model.id)
            event_stream = None
            try:
                kwargs = bedrock.converse_kwargs(request, model)
                client = await bedrock.async_client(stream=True)
                event_stream = (await client.converse_stream(**kwargs))["stream"]
                async for raw_event in event_stream:
                    text, tool_use = assembler.feed(raw_event)
                    if text:  # the hot path: one cheap check per token
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield TextDelta(text)
                    elif tool_use is not None:
                        if call.first_token_at is None:
                            yield call.started_on(model)
                        yield ToolUseEvent(tool_use)
                stop, record = _stop_event(call, model, assembler)
            except Exception as exc:
                error = call.failed(exc, model, assembler)
                await cooldown.astart_cooldown(model.id, _cooldown_seconds(error), reason=error.kind.value)
                if error.allows_fallback and index < len(models) - 1:
                    continue
                finished = True
                await arecord_usage(call.error_record(error, model, assembler))
                raise error from exc
            finally:
                if event_stream is not None:
                    event_stream.close()
            if call.first_token_at is None:
                yield call.started_on(model)  # an answer without content still names its model
            finished = True
            await arecord_usage(record)
            yield stop
            return
    finally:
        if not finished:
            usage = call.usage_for(model, assembler, assembler.usage if assembler else None)
            await arecord_usage(call.record(model, status="cancelled", usage=usage))


# --- Token counting ------------------------------------------------------------------------------------


def count_tokens(request: LLMRequest) -> int:
    """Exact input tokens of `request` on its alias's first model (Bedrock CountTokens).

    Falls back to the local estimate when the provider cannot count (region without
    CountTokens, throttling): a budget check must not fail because counting failed.
    """
    model = get_registry().chain(request.alias)[0]
    try:
        response = bedrock.sync_client(stream=False).count_tokens(**bedrock.count_tokens_kwargs(request, model))
    except Exception as exc:  # noqa: BLE001 - classify() re-raises anything that is not a provider failure
        classify(exc, model_id=model.id)
        return estimate_request_tokens(request)
    return int(response["inputTokens"])


async def acount_tokens(request: LLMRequest) -> int:
    model = get_registry().chain(request.alias)[0]
    try:
        client = await bedrock.async_client(stream=False)
        response = await client.count_tokens(**bedrock.count_tokens_kwargs(request, model))
    except Exception as exc:  # noqa: BLE001 - classify() re-raises anything that is not a provider failure
        classify(exc, model_id=model.id)
        return estimate_request_tokens(request)
    return int(response["inputTokens"])


__all__ = [
    "StopReason",
    "acomplete",
    "acount_tokens",
    "astream",
    "complete",
    "count_tokens",
    "stream",
]
