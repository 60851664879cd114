"""The tool loop of a streamed answer: model call, tool calls, results back, until the model answers.

It runs inside an engine run (`backend.streaming.engine.Run`): the text of every step streams
as `delta` events; each call shows as `tool_call`, then (destructive calls) `tool_confirmation`
while it waits for the user, then `tool_result`. Read and write tools run at once (a write is
reported by its result); a destructive tool runs only once the user confirmed it.

Bounds: at most `TOOLS_MAX_STEPS` model calls and `TOOLS_MAX_TOKENS` input+output tokens per
answer; a call the model asks for beyond them is not run, and the answer ends with the stop
reason `tool_limit`. Everything goes through the provider-neutral types of `backend.llm`
(ToolSpec, ToolUseBlock, ToolResultBlock), so every provider adapter serves it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from backend.db import db_sync_to_async
from backend.llm.types import LLMRequest, Message, StopReason, StreamStop, TextBlock, ToolResultBlock, ToolUseBlock
from backend.streaming.engine import Run
from tools.registry import Kind, Tool, ToolContext
from tools.services import confirmation
from tools.services.execution import CallResult, Outcome, call_audit, call_check, call_perform

TOOL_LIMIT = "tool_limit"
EVENT_CONTENT_CHARS = 4000


@dataclass
class LoopResult:
    stop: StreamStop
    stop_reason: str
    calls: list[dict[str, Any]] = field(default_factory=list)


async def tool_loop(
    *, run: Run, request: LLMRequest, context: ToolContext, tools: list[Tool], calls: list[dict[str, Any]] | None = None
) -> LoopResult:
    """Stream `request` with `tools` offered; run what the model calls; return the last stop.

    Each call's record is appended to `calls` as it ends (the caller keeps them if the answer fails).
    """
    by_name = {tool.name: tool for tool in tools}
    specs = tuple(tool.spec() for tool in tools)
    messages = list(request.messages)
    calls = [] if calls is None else calls
    step = 0
    while True:
        step += 1
        text_before, uses_before = len(run.text), len(run.tool_uses)
        stop = await run.stream(replace(request, messages=tuple(messages), tools=specs))
        uses = [event.tool_use for event in run.tool_uses[uses_before:]]
        if stop.stop_reason != StopReason.TOOL_USE or not uses:
            return LoopResult(stop, stop.stop_reason.value, calls)
        step_text = run.text[text_before:]
        content: list[Any] = [TextBlock(step_text)] if step_text.strip() else []
        messages.append(Message(role="assistant", content=(*content, *uses)))
        usage = run.usage
        over = step >= int(settings.TOOLS_MAX_STEPS) or (
            usage.input_tokens + usage.output_tokens >= int(settings.TOOLS_MAX_TOKENS)
        )
        results: list[ToolResultBlock] = []
        for use in uses:
            record = await _call(run=run, context=context, use=use, tool=by_name.get(use.name), over=over, step=step)
            calls.append(record)
            results.append(
                ToolResultBlock(tool_use_id=use.tool_use_id, content=record["content"], is_error=record["is_error"])
            )
        if over:
            return LoopResult(stop, TOOL_LIMIT, calls)
        messages.append(Message(role="user", content=tuple(results)))


async def _call(
    *, run: Run, context: ToolContext, use: ToolUseBlock, tool: Tool | None, over: bool, step: int
) -> dict[str, Any]:
    began = time.perf_counter()
    kind = tool.kind.value if tool else ""
    run.emit("tool_call", {"call_id": use.tool_use_id, "tool": use.name, "kind": kind, "input": use.input})
    result: CallResult | None = None
    if over:
        result = CallResult(Outcome.LIMIT, "The tool budget of this answer is spent: the call was not run.")
    elif tool is not None and tool.kind == Kind.DESTRUCTIVE:
        result = await db_sync_to_async(call_check)(context=context, tool=tool, name=use.name, tool_input=use.input)
        if result is None:
            result = await _confirmed(run=run, context=context, use=use, tool=tool)
    if result is None:
        result = await db_sync_to_async(call_perform)(context=context, tool=tool, name=use.name, tool_input=use.input)
    await db_sync_to_async(call_audit)(
        context=context,
        tool=tool,
        name=use.name,
        call_id=use.tool_use_id,
        tool_input=use.input,
        result=result,
        began=began,
    )
    run.emit(
        "tool_result",
        {
            "call_id": use.tool_use_id,
            "tool": use.name,
            "status": result.outcome,
            "is_error": result.is_error,
            "content": result.content[:EVENT_CONTENT_CHARS],
        },
    )
    return {
        "call_id": use.tool_use_id,
        "tool": use.name,
        "kind": kind,
        "input": use.input,
        "step": step,
        "status": result.outcome,
        "is_error": result.is_error,
        "content": result.content,
    }


async def _confirmed(*, run: Run, context: ToolContext, use: ToolUseBlock, tool: Tool) -> CallResult | None:
    """Ask the user; None when confirmed (the call then runs), else the result of a refusal."""
    summary = f"{tool.name}({use.input})"
    if tool.summary is not None:
        summary = await db_sync_to_async(tool.summary)(context, use.input)
    await sync_to_async(confirmation.confirmation_open, thread_sensitive=False)(
        reference=context.reference, call_id=use.tool_use_id, user_id=context.user.pk, tool=tool.name, summary=summary
    )
    run.emit(
        "tool_confirmation",
        {
            "call_id": use.tool_use_id,
            "tool": tool.name,
            "summary": summary,
            "timeout_seconds": confirmation.confirmation_timeout(),
        },
    )
    decision = await confirmation.confirmation_await(reference=context.reference, call_id=use.tool_use_id)
    if decision == confirmation.CONFIRMED:
        return None
    if decision == confirmation.TIMEOUT:
        return CallResult(Outcome.TIMEOUT, "The user did not confirm this action in time, so it was not run.")
    return CallResult(Outcome.REJECTED, "The user rejected this action, so it was not run.")
