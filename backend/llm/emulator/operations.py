"""Answering a model request: the pipeline shared by every wire protocol, and Bedrock's wire.

Order of checks, all before any byte of the answer is written: JSON body ->
validation (400) -> control-API model throttle (429) -> [generation only:]
plan (rules, directives) -> pre-stream fault (HTTP error) -> usage
accounting (so the prompt cache is only touched by requests that will be
answered).

The pipeline works on a Converse-shaped request; a ``Wire`` turns the
decided answer into bytes of one protocol: Bedrock's Converse /
ConverseStream (here), Anthropic's Messages API (``anthropic_messages``) and
OpenAI's Chat Completions (``openai_chat``).  Directives, rules, faults,
throttles and cache accounting therefore behave the same on all three.

Streams are paced against an absolute schedule (first delta at
``first_token_ms``, then one every ``delay_ms``), so a loaded event loop
catches up instead of drifting.  In-stream faults fire when the delta after
the K-th one is due; a fault after the last delta fires in place of the
first closing event that follows it.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

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

    def latency_ms(self) -> int:
        return int((asyncio.get_running_loop().time() - self.started) * 1000)


class Wire(Protocol):
    """How one protocol writes a decided answer (see ``BedrockWire`` for the reference)."""

    def response(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        """The complete non-streaming HTTP response."""
        ...

    def stream_open(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        """The response head and the events before the first content event."""
        ...

    def stream_events(self, reply: Reply) -> Iterator[tuple[bytes, bool]]:
        """(HTTP chunk, is_delta) of every event between ``stream_open`` and ``stream_close``."""
        ...

    def stream_close(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        """The events after the last ``stream_events`` chunk, and the end of the body."""
        ...

    def stream_error(self, fault: Fault) -> bytes:
        """The in-stream error event of a ``midstream_error`` fault."""
        ...

    def end_of_body(self) -> bytes:
        """What ends the body without the protocol's terminal events (``truncate``)."""
        ...


def decode_json(body: bytes) -> Any:
    """The parsed JSON body; ValidationException if it is not JSON."""
    try:
        return json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error("The request body is not valid JSON.") from None


class Operations:
    """Answers generation and token-counting requests, whatever their protocol."""

    def __init__(self, state: EmulatorState, max_output_tokens: int) -> None:
        self._state = state
        self._max_output_tokens = max_output_tokens
        self._pacer = Pacer()  # binds to the running loop on first use: one Operations per loop

    def count_tokens(self, model_id: str, body: Any) -> dict[str, int]:
        """The CountTokens answer: the full input count, caching ignored; raises ApiError."""
        return {"inputTokens": self.count_converse(model_id, validate_count_tokens(body, model_id))}

    def count_converse(self, model_id: str, request: dict[str, Any]) -> int:
        """Input tokens of an already validated Converse-shaped request; raises ApiError if throttled."""
        self._state.check_throttled(model_id)
        return count_input(request).tokens

    async def converse(self, exchange: Exchange, model_id: str, body: Any, *, stream: bool) -> bool:
        """Answer one Converse(Stream) request; return False if the connection must not be reused.

        Raises ApiError for anything answered with an HTTP error.
        """
        return await self.generate(exchange, model_id, body, BEDROCK_WIRE, stream=stream)

    async def generate(self, exchange: Exchange, model_id: str, request: Any, wire: Wire, *, stream: bool) -> bool:
        """Answer a Converse-shaped ``request`` over ``wire``; False if the connection must not be reused."""
        request = validate_converse(request, model_id, self._max_output_tokens)
        self._state.check_throttled(model_id)
        plan = make_plan(request, model_id, self._state)
        if plan.fault is not None and plan.fault.pre_stream:
            raise plan.fault.http_error()
        usage = self._usage(request, model_id, plan)
        if stream:
            return await _stream(exchange, plan, usage, self._pacer, wire)
        return await _respond(exchange, plan, usage, wire)

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


async def _respond(exchange: Exchange, plan: Plan, usage: dict[str, int], wire: Wire) -> bool:
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
    exchange.writer.write(wire.response(exchange, plan, usage))
    await exchange.writer.drain()
    return True


async def _stream(exchange: Exchange, plan: Plan, usage: dict[str, int], pacer: Pacer, wire: Wire) -> bool:
    """Streaming answer: one HTTP chunk per event, written as it falls due."""
    writer = exchange.writer
    loop = asyncio.get_running_loop()
    writer.write(wire.stream_open(exchange, plan, usage))
    await writer.drain()
    timeline = _timeline(plan, loop.time(), wire.stream_events(plan.reply))
    fault = plan.in_stream_fault
    stop = _fault_index(timeline, fault.at) if fault is not None else len(timeline)
    if not await _paced(writer, pacer, ((due, chunk) for due, chunk, _ in timeline[:stop])):
        return False
    if fault is not None:
        due, chunk, _ = timeline[stop]
        await asyncio.sleep(max(0.0, due - loop.time()))
        return await _fire(exchange, fault, chunk, wire)
    writer.write(wire.stream_close(exchange, plan, usage))
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


def _timeline(plan: Plan, start: float, chunks: Iterator[tuple[bytes, bool]]) -> list[tuple[float, bytes, bool]]:
    """(due loop time, HTTP chunk, is_delta) of every event between the opening and closing ones.

    Deltas are due at ``first_token_ms`` then every ``delay_ms`` (an absolute
    schedule: a late loop catches up rather than drifting); other events
    follow the preceding delta immediately.
    """
    timeline = []
    due, next_delta = start, start + plan.first_token_ms / 1000
    for chunk, is_delta in chunks:
        if is_delta:
            due, next_delta = next_delta, next_delta + plan.delay_ms / 1000
        timeline.append((due, chunk, is_delta))
    return timeline


def _fault_index(timeline: list[tuple[float, bytes, bool]], deltas: int) -> int:
    """Index of the event in whose place a fault after ``deltas`` deltas fires.

    A K beyond the reply's length means "after the last delta": the fault
    then replaces the closing event that follows it.
    """
    target = min(deltas, sum(is_delta for _, _, is_delta in timeline))
    seen = 0
    for index, (_, _, is_delta) in enumerate(timeline):
        if seen == target:
            return index
        seen += is_delta
    return len(timeline) - 1  # not reached: every wire closes the last block after its delta


async def _fire(exchange: Exchange, fault: Fault, next_chunk: bytes, wire: Wire) -> bool:
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
        writer.write(wire.stream_error(fault))
    writer.write(wire.end_of_body())  # truncate: a clean end without the terminal events
    await writer.drain()
    return True


async def _wait_for_disconnect(reader: asyncio.StreamReader) -> None:
    """Hold the connection until the client goes away (or the task is cancelled)."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


# --- Bedrock's wire: JSON answers and the binary event stream --------------------------------------


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


def _event_chunk(event_type: str, body: dict[str, Any]) -> bytes:
    return es.http_chunk(es.event_frame(event_type, body))


class BedrockWire:
    """Converse (JSON) and ConverseStream (``application/vnd.amazon.eventstream``)."""

    def response(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        body = {
            "output": {"message": {"role": "assistant", "content": plan.reply.content_blocks()}},
            "stopReason": plan.reply.stop_reason,
            "usage": usage,
            "metrics": {"latencyMs": exchange.latency_ms()},
        }
        return json_response(200, body, request_id=exchange.request_id, close=exchange.close)

    def stream_open(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        start = es.event_frame("messageStart", {"role": "assistant"})
        return stream_head(exchange.request_id, close=exchange.close) + es.http_chunk(start)

    def stream_events(self, reply: Reply) -> Iterator[tuple[bytes, bool]]:
        """Text blocks get no contentBlockStart (Bedrock sends it only for structured blocks such as toolUse)."""
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

    def stream_close(self, exchange: Exchange, plan: Plan, usage: dict[str, int]) -> bytes:
        metadata = es.event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": exchange.latency_ms()}})
        return es.http_chunk(metadata) + es.LAST_CHUNK

    def stream_error(self, fault: Fault) -> bytes:
        if fault.code == ERROR_FRAME_CODE:
            return es.http_chunk(es.error_frame(UNMODELED_ERROR_CODE, UNMODELED_ERROR_MESSAGE))
        return es.http_chunk(es.exception_frame(fault.code, stream_exception_body(fault.code)))

    def end_of_body(self) -> bytes:
        return es.LAST_CHUNK


BEDROCK_WIRE = BedrockWire()
