"""Confirmation of destructive calls, through the shared cache (any web process may take the answer).

The answer's run opens a pending confirmation and polls for the decision, as the engine polls
its stop flags; `POST …/tool-calls/{call_id}/confirm/` or `…/reject/` may reach any process
and records the decision once (`cache.add`: the first decision wins, a repeat of it is
harmless). No decision within `TOOLS_CONFIRM_TIMEOUT_SECONDS` counts as rejected: the run
records `timeout` the same way, so a late confirmation cannot run the call after all (it is
answered 409 with the decision that stood, while the pending entry lives).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from backend import errors
from tools.errors import ErrorCode

POLL_SECONDS = 0.1
# A tool-use id as the providers write them (Bedrock: `[a-zA-Z0-9_-]+`, at most 64): anything
# else cannot be waiting, and never becomes part of a cache key.
_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CONFIRMED, REJECTED, TIMEOUT = "confirmed", "rejected", "timeout"


def _pending_key(reference: str, call_id: str) -> str:
    return f"tools:pending:{reference}:{call_id}"


def _decision_key(reference: str, call_id: str) -> str:
    return f"tools:decision:{reference}:{call_id}"


def confirmation_timeout() -> float:
    return float(settings.TOOLS_CONFIRM_TIMEOUT_SECONDS)


def confirmation_open(*, reference: str, call_id: str, user_id: Any, tool: str, summary: str) -> None:
    ttl = int(confirmation_timeout()) + 60
    cache.set(_pending_key(reference, call_id), {"user_id": str(user_id), "tool": tool, "summary": summary}, ttl)


def confirmation_decide(*, reference: str, call_id: str, user_id: Any, decision: str) -> str:
    """Record the user's decision; the decision that counts (an earlier one wins).

    NotFound when no call of this user waits under that id; Conflict when it was already
    decided otherwise (or timed out).
    """
    pending = cache.get(_pending_key(reference, call_id)) if _CALL_ID.fullmatch(call_id) else None
    if pending is None or pending.get("user_id") != str(user_id):
        raise errors.NotFound("No tool call waits for your confirmation here.", code=ErrorCode.TOOL_CALL_NOT_PENDING)
    key = _decision_key(reference, call_id)
    if not cache.add(key, decision, int(confirmation_timeout()) + 60):
        current = cache.get(key)
        if current != decision:
            raise errors.Conflict(
                f"This tool call was already {current}.",
                code=ErrorCode.TOOL_CALL_ALREADY_DECIDED,
                details={"decision": current},
            )
    return decision


async def confirmation_await(*, reference: str, call_id: str) -> str:
    """Wait for the decision: CONFIRMED, REJECTED or TIMEOUT (which is then final)."""
    key = _decision_key(reference, call_id)
    get = sync_to_async(cache.get, thread_sensitive=False)
    deadline = time.monotonic() + confirmation_timeout()
    while time.monotonic() < deadline:
        decision = await get(key)
        if decision is not None:
            return str(decision)
        await asyncio.sleep(POLL_SECONDS)
    added = await sync_to_async(cache.add, thread_sensitive=False)(key, TIMEOUT, int(confirmation_timeout()) + 60)
    return TIMEOUT if added else str(await get(key))
