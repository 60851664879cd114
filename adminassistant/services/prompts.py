"""The system prompt, the request to the model, the reply contract and the correction turn.

Only the question, the manifest and earlier questions and code go to the model, never result
rows (with `send_aggregates`, a number result may be named in the history).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from adminassistant.executor.validator import HELPERS, QUERYSET_METHODS
from adminassistant.manifest import Manifest
from backend.llm.types import CallContext, LLMRequest, Message, TextBlock

SYSTEM = """You are a Python/Django ORM expert answering data questions from the staff of this site, \
inside its admin. Write concise, correct, read-only ORM code. Never write data.

Reply with a short explanation for a non-technical reader (one to three sentences, no code), \
then exactly one fenced ```python block that assigns the answer to `result`.

Rules for the code (anything else is refused):
- Names: only the models listed below and these helpers: {helpers}. now() is an aware datetime, \
today() a date. No imports, builtins, loops, comprehensions, functions, lambdas or f-strings.
- Start every query at <Model>.objects and call only these read-only QuerySet methods: {methods}. \
Slices take integer literals.
- Use only the fields listed; follow relations with __ as usual (user__email, groups__name).
- `result` is a number, a QuerySet (prefer values()/values_list() with the columns worth showing), \
a dict of numbers, or a list. Results are cut to {max_rows} rows; for "how many" give a count.
- Grouped results: values("<field>").annotate(n=Count("id")).order_by("<field>"); \
dated series: annotate(day=TruncDate("<datetime field>")).values("day").annotate(n=Count("id")).order_by("day").
- Percentages: from counts, e.g. part * 100.0 / total.

Today is {today} ({tz}).

Models (Name(app.Model): field:type, fk->Model, m2m or reverse=>Model):
{manifest}"""

CORRECTION = """Running that code failed: {error}
Reply again: a one-sentence explanation and exactly one corrected ```python block that assigns `result`."""

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def system_text(manifest: Manifest) -> str:
    return SYSTEM.format(
        helpers=", ".join(sorted(HELPERS)),
        methods=", ".join(sorted(QUERYSET_METHODS)),
        max_rows=settings.ADMIN_ASSISTANT_MAX_ROWS,
        today=timezone.localdate().isoformat(),
        tz=settings.TIME_ZONE,
        manifest=manifest.text(),
    )


@dataclass(frozen=True)
class Turn:
    question: str
    explanation: str
    code: str


def request_build(
    *,
    manifest: Manifest,
    history: list[Turn],
    question: str,
    alias: str,
    temperature: float,
    max_tokens: int,
    user_id: Any,
    message_id: Any,
) -> LLMRequest:
    messages: list[Message] = []
    for turn in history:
        messages.append(Message.user(turn.question))
        reply = turn.explanation.strip() or "Here is the query."
        messages.append(Message.assistant(f"{reply}\n\n```python\n{turn.code}\n```" if turn.code else reply))
    messages.append(Message.user(question))
    return LLMRequest(
        messages=tuple(messages),
        alias=alias,
        system=(TextBlock(system_text(manifest)),),
        max_tokens=max_tokens,
        temperature=temperature,
        context=CallContext(
            purpose="adminassistant", user_id=user_id, reference=f"adminassistant.message:{message_id}"
        ),
    )


def correction_build(request: LLMRequest, *, reply: str, error: str) -> LLMRequest:
    """The same conversation, the failed reply, and the error: one chance to correct the code."""
    messages = (
        *request.messages,
        Message.assistant(reply or "(no reply)"),
        Message.user(CORRECTION.format(error=error)),
    )
    return LLMRequest(
        messages=messages,
        alias=request.alias,
        system=request.system,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        context=request.context,
    )


SUMMARY = """Answer the staff member's data question in one short sentence, using only these figures. \
No code, no lists."""
MAX_FIGURES = 20


def aggregate_figures(result: dict[str, Any]) -> str:
    """A number result, or a key/value table of numbers, as `name = value` text; else "" (rows never go out)."""
    if result.get("kind") == "number":
        return f"result = {result['rows'][0][0]}"
    rows = result.get("rows") or []
    is_pairs = result.get("columns") == ["key", "value"] and 0 < len(rows) <= MAX_FIGURES
    if is_pairs and all(isinstance(v, int | float) and not isinstance(v, bool) for _, v in rows):
        return "; ".join(f"{k} = {v}" for k, v in rows)
    return ""


def summary_build(*, question: str, figures: str, alias: str, user_id: Any, message_id: Any) -> LLMRequest:
    return LLMRequest(
        messages=(Message.user(f"Question: {question}\nFigures: {figures}"),),
        alias=alias,
        system=(TextBlock(SUMMARY),),
        max_tokens=120,
        temperature=0.2,
        context=CallContext(
            purpose="adminassistant", user_id=user_id, reference=f"adminassistant.message:{message_id}"
        ),
    )


def code_blocks(reply: str) -> list[str]:
    return [block.strip() for block in _FENCE.findall(reply)]


def explanation_of(reply: str) -> str:
    """The reply without its code blocks."""
    return re.sub(r"\n{3,}", "\n\n", _FENCE.sub("", reply)).strip()


class ExplanationStream:
    """Feeds on the reply's deltas and gives back only the explanation before the code fence.

    A possible start of a fence (trailing backticks) is held back until it is known.
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.emitted = 0
        self.fenced = False

    def feed(self, text: str) -> str:
        if self.fenced:
            return ""
        self.buffer += text
        fence = self.buffer.find("```")
        if fence >= 0:
            self.fenced = True
            out = self.buffer[self.emitted : fence].rstrip()
        else:
            safe = len(self.buffer) - (len(self.buffer) - len(self.buffer.rstrip("`")))
            out = self.buffer[self.emitted : safe]
        self.emitted += len(out)
        return out
