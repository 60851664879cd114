"""Mutable emulator state: scripted rules, model throttles, recorded requests, prompt cache.

The event loop thread and the test thread (through ``EmulatorServer``) both
touch this state, so every public method takes the lock; none of them is on
the per-token path.
"""

from __future__ import annotations

import collections
import itertools
import pickle
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from backend.llm.emulator.accounting import Checkpoint, PromptCache
from backend.llm.emulator.directives import Fault, parse_fault
from backend.llm.emulator.errors import ApiError, validation_error

MAX_RECORDED_REQUESTS = 1000
_RESPONSE_KINDS = frozenset({"text", "tool_use", "fault"})


@dataclass
class Rule:
    """A scripted answer for requests whose text matches ``pattern`` (see ``parse_rule``)."""

    id: str
    pattern: re.Pattern[str]
    model: str = ""
    text: str | None = None
    tool_use: dict[str, Any] | None = None
    fault: Fault | None = None
    remaining: int | None = None
    delay_ms: int | None = None
    first_token_ms: int | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def matches(self, prompt_text: str, model_id: str) -> bool:
        return self.model in model_id and self.pattern.search(prompt_text) is not None


def parse_rule(spec: Any, rule_id: str) -> Rule:
    """Build a Rule from the JSON of ``POST /_emulator/rules``; ValidationException if invalid.

    ``{"match": regex, "model": substr?, "response": {"text": ...} |
    {"tool_use": {"name", "input", "id"?}} | {"fault": FAULT} (text and
    tool_use may be combined), "times": N?, "delay_ms": N?,
    "first_token_ms": N?, "usage": {...}?}``
    """
    if not isinstance(spec, dict):
        raise validation_error("A rule must be a JSON object.")
    try:
        pattern = re.compile(str(spec.get("match", "")))
    except re.error as exc:
        raise validation_error(f"Invalid match regex: {exc}.") from None
    response = spec.get("response")
    if not isinstance(response, dict) or not response or not set(response) <= _RESPONSE_KINDS:
        raise validation_error(f"response must be an object with keys from {sorted(_RESPONSE_KINDS)}.")
    if "fault" in response and len(response) > 1:
        raise validation_error("A fault response cannot also carry text or tool_use.")
    tool_use = response.get("tool_use")
    if tool_use is not None and not _is_tool_use(tool_use):
        raise validation_error("tool_use must be an object with a name and an input object.")
    times = _optional(spec, "times", int)
    if times is not None and times < 1:
        raise validation_error("times must be at least 1.")
    usage = spec.get("usage", {})
    if not isinstance(usage, dict) or not all(isinstance(v, int) for v in usage.values()):
        raise validation_error("usage must map TokenUsage field names to integers.")
    return Rule(
        id=rule_id,
        pattern=pattern,
        model=str(spec.get("model") or ""),
        text=_optional(response, "text", str),
        tool_use=tool_use,
        fault=parse_fault(str(response["fault"])) if "fault" in response else None,
        remaining=times,
        delay_ms=_optional(spec, "delay_ms", int),
        first_token_ms=_optional(spec, "first_token_ms", int),
        usage=usage,
    )


def _is_tool_use(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("input", {}), dict)


def _optional(spec: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = spec.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise validation_error(f"{key} must be of type {kind.__name__}.")
    return value


class EmulatorState:
    """Rules (newest first), throttled models, the request log and the prompt cache."""

    def __init__(self, min_cache_tokens: int) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._rule_ids = itertools.count(1)
        self._throttled_until: dict[str, float] = {}
        # Pickled: one untracked bytes object per request instead of its parsed body (a long chat's
        # request is thousands of dicts and lists, which every full garbage collection would scan).
        self._requests: collections.deque[bytes] = collections.deque(maxlen=MAX_RECORDED_REQUESTS)
        self._cache = PromptCache(min_cache_tokens)

    def add_rule(self, spec: Any) -> str:
        """Register a rule; returns its id."""
        with self._lock:
            rule = parse_rule(spec, f"rule-{next(self._rule_ids)}")
            self._rules.append(rule)
            return rule.id

    def take_rule(self, prompt_text: str, model_id: str) -> Rule | None:
        """The newest matching rule, consuming one of its uses (expired rules are dropped)."""
        with self._lock:
            for rule in reversed(self._rules):
                if rule.matches(prompt_text, model_id):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def throttle(self, model: str, seconds: float) -> None:
        """Answer ThrottlingException to every call whose model id contains ``model``."""
        with self._lock:
            self._throttled_until[model] = time.monotonic() + seconds

    def check_throttled(self, model_id: str) -> None:
        """Raise ThrottlingException if ``model_id`` is under a control-API throttle."""
        now = time.monotonic()
        with self._lock:
            if any(m in model_id and until > now for m, until in self._throttled_until.items()):
                raise ApiError("ThrottlingException")

    def record(self, entry: dict[str, Any]) -> None:
        recorded = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._requests.append(recorded)

    def requests(self) -> list[dict[str, Any]]:
        """Recorded model requests, oldest first (at most MAX_RECORDED_REQUESTS)."""
        with self._lock:
            recorded = list(self._requests)
        return [pickle.loads(entry) for entry in recorded]  # noqa: S301 - bytes this process pickled

    def account_cache(self, model_id: str, checkpoints: tuple[Checkpoint, ...]) -> tuple[int, int]:
        """(cache read, cache write) tokens of a request; see ``PromptCache.account``."""
        with self._lock:
            return self._cache.account(model_id, checkpoints)

    def reset(self) -> None:
        """Forget rules, throttles, recorded requests and the prompt cache."""
        with self._lock:
            self._rules.clear()
            self._throttled_until.clear()
            self._requests.clear()
            self._cache.clear()
