"""The three Bedrock operations: Converse, ConverseStream and CountTokens.

Order of checks, all before any byte of the answer is written: JSON body ->
validation (400) -> control-API model throttle (429) -> [Converse only:]
plan (rules, directives) -> pre-stream fault (HTTP error) -> usage
accounting (so the prompt cache is only touched by requests that will be
answered).

Streams are paced against an absolute schedule (first delta at
``first_token_ms``, then one every ``delay_ms``), so a loaded event loop
catches up instead of drifting.  In-stream faults fire when the delta after
the K-th one is due; a fault after the last delta fires in place of the
closing ``contentBlockStop``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backend.llm.emulator import eventstream as es
from backend.llm.emulator.accounting import count_input, usage_block
from backend.llm.emulator.directives import ERROR_FRAME_CODE, Fault
from backend.llm.emulator.errors import (
    UNMODELED_ERROR_CODE,
    UNMODELED_ERROR_MESSAGE,
    ApiError,
    stream_exception_body,
    validation_error,
)
from backend.llm.emulator.httpio import json_response, stream_head
from backend.llm.emulator.pacing import Paced, Pacer
from backend.llm.emulator.plan import Plan, make_plan
from backend.llm.emulator.replies import Reply
from backend.llm.emulator.state import EmulatorState
from backend.llm.emulator.validation import validate_converse, validate_count_tokens


@dataclass(frozen=True)
class Exchange:
    """One request's I/O: the connection streams, its request id and start time."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request_id: str
    started: float  # loop.time() when the request was read
    close: bool  # the client asked for Connection: close


def decode_json(body: bytes) -> Any:
    """The parsed JSON body; ValidationException if it is not JSON."""
    try:
        return json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error("The request body is not valid JSON.") from None


class Operations:
    """Answers Converse, ConverseStream and CountTokens requests."""

    def __init__(self, state: EmulatorState, max_output_tokens: int) -> None:
        self._state = state
        self._max_output_tokens = max_output_tokens
        self._pacer = Pacer()  # binds to the running loop on first use: one Operations per loop

    def count_tokens(self, model_id: str, body: Any) -> dict[str, int]:
        """The CountTokens answer: the full input count, caching ignored; raises ApiError."""
        request = validate_count_tokens(body, model_id)
        self._state.check_throttled(model_id)
        return {"inputTokens": count_input(request).tokens}

    async def converse(self, exchange: Exchange, model_id: str, body: Any, *, stream: bool) -> bool:
        """Answer one Converse(Stream) request; return False if the connection must not be reused.

        Raises ApiError for anything answered with an HTTP error.
        """
        request = validate_converse(body, model_id, self._max_output_tokens)
        self._state.check_throttled(model_id)
        plan = make_plan(request, model_id, self._state)
        if plan.fault is not None and plan.fault.pre_stream:
            raise plan.fault.http_error()
        usage = self._usage(request, model_id, plan)
        if stream:
            return await _stream(exchange, plan, usage, self._pacer)
        return await _converse(exchange, plan, usage)

    def _usage(self, request: dict[str, Any], model_id: str, plan: Plan) -> dict[str, int]:
        counted = count_input(request)
        read, write = self._state.account_cache(model_id, counted.checkpoints)
        usage = usage_block(counted.tokens, read, write, plan.reply.output_tokens)
        if plan.usage_override:
            usage.update(plan.usage_override)
            if "totalTokens" not in plan.usage_override:
                parts = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
                usage["totalTokens"] = sum(usage[name] for name in parts)
        return usage


async def _converse(exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bool:
    """Non-streaming answer, sent after the emulated generation time."""
    fault = plan.in_stream_fault
    deltas = plan.reply.output_tokens
    if fault is not None:
        await asyncio.sleep(plan.generation_seconds(min(fault.at, deltas)))
        if fault.kind == "drop":
            exchange.writer.transport.abort()
            return False
        if fault.kind == "stall":
            await _wait_for_disconnect(exchange.reader)
            return False
        raise ApiError("InternalServerException")  # truncate / midstream_error
    await asyncio.sleep(plan.generation_seconds(deltas))
    body = {
        "output": {"message": {"role": "assistant", "content": plan.reply.content_blocks()}},
        "stopReason": plan.reply.stop_reason,
        "usage": usage,
        "metrics": {"latencyMs": _latency_ms(exchange)},
    }
    exchange.writer.write(json_response(200, body, request_id=exchange.request_id, close=exchange.close))
    await exchange.writer.drain()
    return True


async def _stream(exchange: Exchange, plan: Plan, usage: dict[str, int], pacer: Pacer) -> bool:
    """Streaming answer: one HTTP chunk per event-stream frame, written as it falls due."""
    writer = exchange.writer
    loop = asyncio.get_running_loop()
    start = es.event_frame("messageStart", {"role": "assistant"})
    writer.write(stream_head(exchange.request_id, close=exchange.close) + es.http_chunk(start))
    await writer.drain()
    timeline = _timeline(plan, loop.time())
    fault = plan.in_stream_fault
    stop = _fault_index(timeline, fault.at) if fault is not None else len(timeline)
    if not await _paced(writer, pacer, ((due, chunk) for due, chunk, _ in timeline[:stop])):
        return False
    if fault is not None:
        due, chunk, _ = timeline[stop]
        await asyncio.sleep(max(0.0, due - loop.time()))
        return await _fire(exchange, fault, chunk)
    metadata = es.event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": _latency_ms(exchange)}})
    writer.write(es.http_chunk(metadata) + es.LAST_CHUNK)
    await writer.drain()
    return True


async def _paced(writer: asyncio.StreamWriter, pacer: Pacer, items: Iterator[tuple[float, bytes]]) -> bool:
    """Write ``items`` through the pacer; False if the client went away."""
    while True:
        result = await pacer.write(writer.transport, items)
        if result is Paced.DONE:
            return True
        if result is Paced.CLOSED:
            return False
        await writer.drain()  # Paced.BACKPRESSURE: the client reads slowly


def _timeline(plan: Plan, start: float) -> list[tuple[float, bytes, bool]]:
    """(due loop time, HTTP chunk, is_delta) of every frame after messageStart and before metadata.

    Deltas are due at ``first_token_ms`` then every ``delay_ms`` (an absolute
    schedule: a late loop catches up rather than drifting); other frames
    follow the preceding delta immediately.
    """
    timeline = []
    due, next_delta = start, start + plan.first_token_ms / 1000
    for chunk, is_delta in _reply_chunks(plan.reply):
        if is_delta:
            due, next_delta = next_delta, next_delta + plan.delay_ms / 1000
        timeline.append((due, chunk, is_delta))
    return timeline


def _fault_index(timeline: list[tuple[float, bytes, bool]], deltas: int) -> int:
    """Index of the frame in whose place a fault after ``deltas`` deltas fires.

    A K beyond the reply's length means "after the last delta": the fault
    then replaces the contentBlockStop that follows it.
    """
    target = min(deltas, sum(is_delta for _, _, is_delta in timeline))
    seen = 0
    for index, (_, _, is_delta) in enumerate(timeline):
        if seen == target:
            return index
        seen += is_delta
    return len(timeline) - 1  # not reached: messageStop always follows the last delta


@functools.lru_cache(maxsize=16384)
def _text_delta_chunk(block_index: int, text: str) -> bytes:
    """The HTTP chunk of one text token's ``contentBlockDelta`` frame, memoised.

    Streams mostly repeat the same tokens (default replies share their
    filler), so caching keeps the per-token cost to a socket write.  The
    padding is then fixed per (index, token) pair, which is still
    indistinguishable from Bedrock's.
    """
    return es.http_chunk(
        es.event_frame("contentBlockDelta", {"contentBlockIndex": block_index, "delta": {"text": text}})
    )


def _reply_chunks(reply: Reply) -> Iterator[tuple[bytes, bool]]:
    """(HTTP chunk, is_delta) for every event after messageStart and before metadata.

    Text blocks get no contentBlockStart (Bedrock sends it only for
    structured blocks such as toolUse).
    """
    index = 0
    if reply.has_text_block:
        for token in reply.text_tokens:
            yield _text_delta_chunk(0, token), True
        yield _event_chunk("contentBlockStop", {"contentBlockIndex": 0}), False
        index = 1
    if reply.tool_call is not None:
        call = reply.tool_call
        tool_start = {"toolUse": {"toolUseId": call.tool_use_id, "name": call.name}}
        yield _event_chunk("contentBlockStart", {"contentBlockIndex": index, "start": tool_start}), False
        for fragment in call.fragments:
            delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}}
            yield _event_chunk("contentBlockDelta", delta), True
        yield _event_chunk("contentBlockStop", {"contentBlockIndex": index}), False
    yield _event_chunk("messageStop", {"stopReason": reply.stop_reason}), False


def _event_chunk(event_type: str, body: dict[str, Any]) -> bytes:
    return es.http_chunk(es.event_frame(event_type, body))


async def _fire(exchange: Exchange, fault: Fault, next_chunk: bytes) -> bool:
    """Carry out an in-stream fault in place of ``next_chunk``; return keep-alive."""
    writer = exchange.writer
    if fault.kind == "drop":
        writer.write(next_chunk[: len(next_chunk) // 2])
        await writer.drain()
        writer.transport.abort()
        return False
    if fault.kind == "stall":
        await _wait_for_disconnect(exchange.reader)
        return False
    if fault.kind == "midstream_error":
        if fault.code == ERROR_FRAME_CODE:
            frame = es.error_frame(UNMODELED_ERROR_CODE, UNMODELED_ERROR_MESSAGE)
        else:
            frame = es.exception_frame(fault.code, stream_exception_body(fault.code))
        writer.write(es.http_chunk(frame))
    writer.write(es.LAST_CHUNK)  # truncate: a clean end without the stop events
    await writer.drain()
    return True


async def _wait_for_disconnect(reader: asyncio.StreamReader) -> None:
    """Hold the connection until the client goes away (or the task is cancelled)."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


def _latency_ms(exchange: Exchange) -> int:
    return int((asyncio.get_running_loop().time() - exchange.started) * 1000)
