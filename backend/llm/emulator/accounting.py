"""Deterministic token accounting: input estimates, prompt caching, usage blocks.

Input token formula (the same for converse, converse-stream and
count-tokens, so tests can compute expected numbers exactly):

* text (system text, message text, guard/reasoning text): ``estimate_tokens``,
  i.e. ``ceil(len(text) / 4)`` characters per token, 0 for an empty string;
* tool specs: ``estimate_tokens`` of the spec's canonical JSON
  (``sort_keys=True``, compact separators);
* toolUse blocks: ``estimate_tokens(name + canonical JSON of input)``;
  toolResult blocks: the sum over their content items;
* images: ``ceil(width * height / 750)`` (Anthropic's published formula);
* documents: ``ceil(decoded bytes / 4)`` for bytes sources, ``estimate_tokens``
  of the text for text/content sources;
* anything else (video, audio, citations...): ``estimate_tokens`` of the
  block's canonical JSON; S3 sources count 0 (the emulator cannot fetch them);
* cachePoint markers: 0.

Prompt caching: the request is flattened in Anthropic's order (tools, then
system blocks, then message blocks); each ``cachePoint`` closes a prefix.  A
prefix below ``min_tokens`` is ignored (Bedrock silently caches nothing).  The
longest prefix already cached for the same model is a *read*; the tokens from
there up to the last eligible checkpoint are a *write*.  ``inputTokens`` counts
only the uncached remainder and ``totalTokens`` adds everything up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backend.llm.emulator.media import image_info

DEFAULT_CACHE_TTL_SECONDS = 300.0
_CACHE_TTLS = {"5m": 300.0, "1h": 3600.0}
_PRUNE_THRESHOLD = 4096


def estimate_tokens(text: str) -> int:
    """Token estimate of ``text``: ceil(len / 4); at least 1 if non-empty, 0 if empty."""
    return math.ceil(len(text) / 4)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: stable across clients."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def block_tokens(block: dict[str, Any]) -> int:
    """Input tokens of one (validated) content block, per the module formula."""
    if "text" in block:
        return estimate_tokens(block["text"])
    if "cachePoint" in block:
        return 0
    if "image" in block:
        return _image_tokens(block["image"])
    if "document" in block:
        return _document_tokens(block["document"])
    if "toolUse" in block:
        tool_use = block["toolUse"]
        return estimate_tokens(tool_use.get("name", "") + canonical_json(tool_use.get("input")))
    if "toolResult" in block:
        return sum(_tool_result_item_tokens(item) for item in block["toolResult"].get("content", []))
    if "guardContent" in block:
        return estimate_tokens(block["guardContent"].get("text", {}).get("text", ""))
    if "reasoningContent" in block:
        return estimate_tokens(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
    return estimate_tokens(canonical_json(block))


def _tool_result_item_tokens(item: dict[str, Any]) -> int:
    if "json" in item:
        return estimate_tokens(canonical_json(item["json"]))
    return block_tokens(item)


def _image_tokens(image: dict[str, Any]) -> int:
    encoded = image.get("source", {}).get("bytes")
    info = image_info(base64.b64decode(encoded)) if encoded else None
    return math.ceil(info.width * info.height / 750) if info else 0


def _document_tokens(document: dict[str, Any]) -> int:
    source = document.get("source", {})
    if "bytes" in source:
        return math.ceil(len(base64.b64decode(source["bytes"])) / 4)
    if "text" in source:
        return estimate_tokens(source["text"])
    return sum(estimate_tokens(item.get("text", "")) for item in source.get("content", []))


@dataclass(frozen=True)
class Checkpoint:
    """A cachePoint: digest of the prefix it closes, that prefix's tokens, its TTL."""

    digest: str
    tokens: int
    ttl_seconds: float


@dataclass(frozen=True)
class InputCount:
    """Total input tokens of a request and the cache checkpoints in it."""

    tokens: int
    checkpoints: tuple[Checkpoint, ...]


def count_input(request: dict[str, Any]) -> InputCount:
    """Count the input tokens of a validated Converse(-style) request body."""
    digest = hashlib.sha256()
    total = 0
    checkpoints: list[Checkpoint] = []
    for item, tokens, cache_point in _flatten(request):
        if cache_point is not None:
            ttl = _CACHE_TTLS.get(cache_point.get("ttl", "5m"), DEFAULT_CACHE_TTL_SECONDS)
            checkpoints.append(Checkpoint(digest.copy().hexdigest(), total, ttl))
            continue
        digest.update(canonical_json(item).encode("utf-8"))
        total += tokens
    return InputCount(total, tuple(checkpoints))


def _flatten(
    request: dict[str, Any],
) -> Iterator[tuple[list[Any], int, dict[str, Any] | None]]:
    """Yield (hashable item, tokens, cachePoint-or-None) in caching order."""
    for tool in (request.get("toolConfig") or {}).get("tools", []):
        if "cachePoint" in tool:
            yield [], 0, tool["cachePoint"]
        else:
            yield ["tool", tool], estimate_tokens(canonical_json(tool)), None
    for block in request.get("system") or []:
        if "cachePoint" in block:
            yield [], 0, block["cachePoint"]
        else:
            yield ["system", block], block_tokens(block), None
    for index, message in enumerate(request.get("messages") or []):
        for block in message.get("content", []):
            if "cachePoint" in block:
                yield [], 0, block["cachePoint"]
            else:
                yield ["message", index, message.get("role"), block], block_tokens(block), None


class PromptCache:
    """Per-model prompt cache keyed by prefix digest, with TTLs refreshed on hit.

    Not thread-safe: the owner serialises access.
    """

    def __init__(self, min_tokens: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_tokens = min_tokens
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}

    def account(self, model_id: str, checkpoints: tuple[Checkpoint, ...]) -> tuple[int, int]:
        """Record a request's checkpoints; return its (cache read, cache write) tokens."""
        eligible = [c for c in checkpoints if c.tokens >= self.min_tokens]
        if not eligible:
            return 0, 0
        now = self._clock()
        self._prune(now)
        read = 0
        for checkpoint in reversed(eligible):
            if self._expiry.get((model_id, checkpoint.digest), 0.0) > now:
                read = checkpoint.tokens
                break
        for checkpoint in eligible:
            self._expiry[(model_id, checkpoint.digest)] = now + checkpoint.ttl_seconds
        return read, eligible[-1].tokens - read

    def clear(self) -> None:
        self._expiry.clear()

    def _prune(self, now: float) -> None:
        if len(self._expiry) > _PRUNE_THRESHOLD:
            self._expiry = {key: exp for key, exp in self._expiry.items() if exp > now}


def usage_block(input_total: int, cache_read: int, cache_write: int, output: int) -> dict[str, int]:
    """The TokenUsage structure: inputTokens excludes what was read from or written to cache."""
    uncached = input_total - cache_read - cache_write
    return {
        "inputTokens": uncached,
        "outputTokens": output,
        "totalTokens": uncached + output + cache_read + cache_write,
        "cacheReadInputTokens": cache_read,
        "cacheWriteInputTokens": cache_write,
    }
