"""Request body parsers: DRF's JSON parser with a nesting limit.

`json.loads` recurses once per nesting level, so a body of a few kilobytes of `[[[[…` raised
`RecursionError` (a 500) on every JSON endpoint, and a document just under the interpreter's
limit would blow up later in whatever walks it (serializers, the JSON column encoder). Bodies
nested deeper than `MAX_JSON_DEPTH` are a 400 `malformed_request` instead; no API input is
legitimately nested more than a few levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests containers deeper than `limit`; iterative, stops early."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from exc
        if isinstance(data, (dict, list)) and json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
