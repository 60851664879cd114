"""Canned replies: deterministic text tokens and tool-use blocks.

The default reply to a prompt is ``default_reply_tokens(prompt)``: the token
``"Echo:"``, then up to ``ECHO_WORDS`` words of the prompt (each with a
leading space), then a fixed filler vocabulary cycled in order, cut to the
requested length.  Its default length is 12..40 tokens, derived from a CRC of
the prompt's words so that it is stable across runs and processes.  One token
is one ``contentBlockDelta`` and counts as one output token.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

ECHO_WORDS = 8
MIN_DEFAULT_TOKENS = 12
MAX_DEFAULT_TOKENS = 40
#: Characters of tool-input JSON per toolUse delta.
TOOL_INPUT_FRAGMENT_CHARS = 12

_FILLER = (
    "this", "is", "a", "canned", "reply", "from", "the", "Bedrock", "emulator,",
    "not", "a", "real", "model;", "it", "streams", "one", "word", "per", "token.",
)  # fmt: skip
_WORD = re.compile(r"\s*\S+")


def default_reply_length(prompt: str) -> int:
    """Deterministic default reply length for ``prompt``, in MIN..MAX_DEFAULT_TOKENS."""
    span = MAX_DEFAULT_TOKENS - MIN_DEFAULT_TOKENS + 1
    return MIN_DEFAULT_TOKENS + zlib.crc32(" ".join(prompt.split()).encode("utf-8")) % span


def default_reply_tokens(last_user_text: str, n: int | None = None) -> list[str]:
    """The exact token strings of the default reply to ``last_user_text``.

    ``last_user_text`` is the last user message's text with directives
    removed (whitespace is irrelevant: the prompt is split into words).  ``n``
    is the number of tokens; None means ``default_reply_length``.
    """
    count = default_reply_length(last_user_text) if n is None else n
    echoed = [f" {word}" for word in last_user_text.split()[:ECHO_WORDS]]
    filler = (f" {word}" for word in itertools.cycle(_FILLER))
    return list(itertools.islice(itertools.chain(["Echo:"], echoed, filler), count))


def tokenize_text(text: str) -> list[str]:
    """Split ``text`` into word tokens whose concatenation is exactly ``text``.

    Each token is a word with its leading whitespace; trailing whitespace is
    appended to the last token.  Whitespace-only text is a single token and
    the empty string has no tokens.
    """
    tokens = _WORD.findall(text)
    consumed = sum(len(token) for token in tokens)
    if consumed < len(text):
        if tokens:
            tokens[-1] += text[consumed:]
        else:
            tokens = [text]
    return tokens


@dataclass(frozen=True)
class ToolCall:
    """A toolUse block of a reply; ``fragments`` are the streamed input pieces."""

    tool_use_id: str
    name: str
    input: dict[str, Any]

    @property
    def fragments(self) -> list[str]:
        encoded = json.dumps(self.input, separators=(",", ":"))
        step = TOOL_INPUT_FRAGMENT_CHARS
        return [encoded[i : i + step] for i in range(0, len(encoded), step)] or ["{}"]


def new_tool_call(name: str, tool_input: dict[str, Any], tool_use_id: str | None = None) -> ToolCall:
    """A ToolCall with a Bedrock-looking id (``tooluse_...``) unless one is given."""
    return ToolCall(tool_use_id or f"tooluse_{uuid.uuid4().hex[:22]}", name, tool_input)


@dataclass(frozen=True)
class Reply:
    """What the emulated model answers: text tokens, an optional tool call, a stop reason.

    The text block (index 0) is present when there are text tokens or no tool
    call; the tool call comes after it.  Output tokens are one per text token
    plus one per tool-input fragment.
    """

    text_tokens: tuple[str, ...]
    tool_call: ToolCall | None
    stop_reason: str

    @property
    def has_text_block(self) -> bool:
        return bool(self.text_tokens) or self.tool_call is None

    @property
    def output_tokens(self) -> int:
        tool = len(self.tool_call.fragments) if self.tool_call else 0
        return len(self.text_tokens) + tool

    def content_blocks(self) -> list[dict[str, Any]]:
        """The Converse (non-streaming) ``output.message.content`` list."""
        content: list[dict[str, Any]] = []
        if self.has_text_block:
            content.append({"text": "".join(self.text_tokens)})
        if self.tool_call is not None:
            call = self.tool_call
            content.append({"toolUse": {"toolUseId": call.tool_use_id, "name": call.name, "input": call.input}})
        return content


def limit_reply(reply: Reply, max_tokens: int | None) -> Reply:
    """Cut the text to ``max_tokens`` tokens (stop reason ``max_tokens``) if it is longer.

    A cut reply loses its tool call, as the model stopped before reaching it.
    Tool-input fragments themselves are never cut: a partial tool call is
    useless to a test, and scripted tool replies are meant to fit.
    """
    if max_tokens is None or len(reply.text_tokens) <= max_tokens:
        return reply
    return Reply(reply.text_tokens[:max_tokens], None, "max_tokens")
