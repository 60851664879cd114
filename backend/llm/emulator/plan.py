"""Deciding what to answer: rules first (newest first), then directives, then the default reply.

A matching control-API rule replaces the fault that the directives would
give, and the reply too when it scripts text or a tool call; its
``delay_ms``/``first_token_ms``, when set, override the directives' timing.  The reply is then cut to
``inferenceConfig.maxTokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from backend.llm.emulator.directives import Directives, Fault, parse_directives, strip_directives
from backend.llm.emulator.product_tasks import ignores_length_directives, product_task_reply
from backend.llm.emulator.replies import (
    Reply,
    default_reply_tokens,
    limit_reply,
    new_tool_call,
    tokenize_text,
)
from backend.llm.emulator.state import EmulatorState, Rule


@dataclass(frozen=True)
class Plan:
    """A fully decided answer: the reply, an optional fault, timing and usage overrides."""

    reply: Reply
    fault: Fault | None = None
    delay_ms: int = 0
    first_token_ms: int = 0
    usage_override: dict[str, int] = field(default_factory=dict)

    @property
    def in_stream_fault(self) -> Fault | None:
        """The fault if it acts after the stream started (drop, stall, truncate, midstream)."""
        return self.fault if self.fault is not None and not self.fault.pre_stream else None

    def generation_seconds(self, deltas: int) -> float:
        """Time the emulated model takes to produce ``deltas`` deltas."""
        if deltas <= 0:
            return 0.0
        return (self.first_token_ms + self.delay_ms * (deltas - 1)) / 1000


def message_text(message: dict[str, Any]) -> str:
    """The text blocks of a message, joined by newlines."""
    return "\n".join(block["text"] for block in message.get("content", []) if "text" in block)


def prompt_text(request: dict[str, Any]) -> str:
    """System text and all message text: what rule patterns are searched in."""
    system = [block["text"] for block in request.get("system") or [] if "text" in block]
    messages = [message_text(message) for message in request.get("messages", [])]
    return "\n".join(system + messages)


def make_plan(request: dict[str, Any], model_id: str, state: EmulatorState) -> Plan:
    """Decide the answer to a validated Converse request (consumes one use of a matching rule)."""
    user_messages = [m for m in request["messages"] if m.get("role") == "user"]
    last_user_text = message_text(user_messages[-1]) if user_messages else ""
    directives = parse_directives(last_user_text)
    plan = _plan_from_directives(directives, strip_directives(last_user_text), model_id)
    shaped = directives.reply is not None or (directives.tokens is not None and not ignores_length_directives(request))
    task_reply = None if shaped else product_task_reply(request)
    if task_reply is not None:  # the product's own tasks (titles, memory, prototypes) get their shape
        plan = replace(plan, reply=task_reply)
    rule = state.take_rule(prompt_text(request), model_id)
    if rule is not None:
        plan = _plan_from_rule(rule, plan, directives.stop_reason)
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens")
    return Plan(
        reply=limit_reply(plan.reply, max_tokens),
        fault=plan.fault,
        delay_ms=plan.delay_ms,
        first_token_ms=plan.first_token_ms,
        usage_override=plan.usage_override,
    )


def _plan_from_directives(directives: Directives, prompt: str, model_id: str) -> Plan:
    if directives.reply is not None:
        tokens = tokenize_text(directives.reply)
    else:
        tokens = default_reply_tokens(prompt, directives.tokens)
    reply = Reply(tuple(tokens), None, directives.stop_reason or "end_turn")
    return Plan(
        reply=reply,
        fault=directives.fault_for(model_id),
        delay_ms=directives.delay_ms,
        first_token_ms=directives.first_token_ms,
    )


def _plan_from_rule(rule: Rule, base: Plan, stop_reason: str | None) -> Plan:
    """Overlay a rule on the directive-derived plan ``base``.

    A fault rule keeps the base reply (so ``drop@K`` has K deltas to send);
    a text/tool_use rule replaces the reply and drops the directives' fault.
    """
    reply = base.reply
    if rule.text is not None or rule.tool_use is not None:
        tool_call = None
        if rule.tool_use is not None:
            spec = rule.tool_use
            tool_call = new_tool_call(spec["name"], spec.get("input", {}), spec.get("id"))
        tokens = tuple(tokenize_text(rule.text)) if rule.text is not None else ()
        default_stop = "tool_use" if tool_call is not None else "end_turn"
        reply = Reply(tokens, tool_call, stop_reason or default_stop)
    return Plan(
        reply=reply,
        fault=rule.fault,
        delay_ms=base.delay_ms if rule.delay_ms is None else rule.delay_ms,
        first_token_ms=base.first_token_ms if rule.first_token_ms is None else rule.first_token_ms,
        usage_override=rule.usage,
    )
