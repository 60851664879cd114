"""One tool call: checked (tool exists and is allowed, permission, input schema), run, audited.

Nothing the model says is trusted: the tool is looked up among those offered to this user, the
permission is checked again at run time, the input is validated against the tool's schema
before anything runs, and every object is fetched by the tool through an owner-scoped selector
(a foreign id is "not found", exactly like an id that does not exist).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema

from backend.errors import ApplicationError
from tools.models import ToolCallAudit
from tools.registry import Tool, ToolContext

if TYPE_CHECKING:
    from django.contrib.auth.models import _User

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS = 20_000
Outcome = ToolCallAudit.Outcome


@dataclass(frozen=True)
class CallResult:
    outcome: str  # a ToolCallAudit.Outcome value
    content: str  # what the model is told (JSON for a result, a sentence for an error)
    data: Any = None  # the tool's result, for the client

    @property
    def is_error(self) -> bool:
        return self.outcome != Outcome.OK


def tool_allowed(*, user: _User, tool: Tool) -> bool:
    permission = tool.required_permission()
    return bool(user.is_active) and (permission is None or user.has_perm(permission))


def call_check(*, context: ToolContext, tool: Tool | None, name: str, tool_input: Any) -> CallResult | None:
    """Why the call must not run (a result to tell the model), or None when it may."""
    if tool is None:
        return CallResult(Outcome.DENIED, f"There is no tool named {name!r} available here.")
    if not tool_allowed(user=context.user, tool=tool):
        return CallResult(Outcome.DENIED, f"You may not use {name} for this user.")
    try:
        jsonschema.validate(tool_input, tool.input_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "input"
        return CallResult(Outcome.INVALID, f"Invalid input for {name} at {where}: {exc.message}. Nothing was run.")
    return None


def call_perform(*, context: ToolContext, tool: Tool | None, name: str, tool_input: Any) -> CallResult:
    """Check, then run the tool; its refusals (not found, conflicts) become error results."""
    refused = call_check(context=context, tool=tool, name=name, tool_input=tool_input)
    if refused is not None:
        return refused
    assert tool is not None
    try:
        data = tool.run(context, tool_input)
    except ApplicationError as exc:
        return CallResult(Outcome.ERROR, f"{exc.message} ({exc.code})")
    except Exception:
        logger.exception("tool %s failed", name)
        return CallResult(Outcome.ERROR, f"{name} failed unexpectedly; nothing more is known.")
    content = json.dumps(data, default=str, ensure_ascii=False)
    if len(content) > MAX_RESULT_CHARS:
        content = content[:MAX_RESULT_CHARS] + " …(truncated)"
    return CallResult(Outcome.OK, content, data)


def call_audit(
    *,
    context: ToolContext,
    tool: Tool | None,
    name: str,
    call_id: str,
    tool_input: Any,
    result: CallResult,
    began: float,
) -> None:
    """The audit row of a call (written whatever its outcome; a failure to write is logged)."""
    try:
        ToolCallAudit.objects.create(
            user=context.user,
            tool=name[:64],
            kind=tool.kind.value if tool else "",
            call_id=call_id[:100],
            reference=context.reference[:100],
            input=tool_input if isinstance(tool_input, dict) else {"value": tool_input},
            outcome=result.outcome,
            detail=result.content[:500] if result.is_error else "",
            duration_ms=int((time.perf_counter() - began) * 1000),
        )
    except Exception:
        logger.exception("could not audit tool call %s", call_id)
