"""A snippet's `result` as JSON: a number, a table, or a table that charts (grouped or dated rows).

Rows are read inside the guarded transaction, capped in SQL (`LIMIT max_rows + 1` tells
whether there are more; then one `count()` gives the total), long fields truncated. A model
QuerySet is narrowed to the manifest's columns first (see `Interpreter.readable`).
"""

from __future__ import annotations

import datetime
import json
import math
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from adminassistant.executor.interpreter import SCALARS, Interpreter
from adminassistant.executor.validator import Refused


def cell(value: Any, max_chars: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "<binary>"
    if not isinstance(value, str):
        value = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"


def _columns(qs: QuerySet[Any]) -> list[str]:
    query = qs.query
    fields: tuple[str, ...] = getattr(qs, "_fields", None) or ()
    if fields:  # values()/values_list() with names: their order, then later annotations
        names = list(fields)
        return names + [name for name in query.annotation_select if name not in names]
    return [*query.extra_select, *query.values_select, *query.annotation_select]


def _table(columns: list[str], rows: list[list[Any]], truncated: bool, total: int | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "kind": "table",
        "columns": columns,
        "rows": rows,
        "row_count": len(rows),
        "truncated": truncated,
        "total": total if total is not None else len(rows),
    }
    chart = _chart(columns, rows)
    if chart:
        result["kind"] = "chart"
        result["chart"] = chart
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _chart(columns: list[str], rows: list[list[Any]]) -> dict[str, Any] | None:
    """Two columns, label then number, 2+ rows: a bar chart (a line when the labels are dates)."""
    if len(columns) != 2 or len(rows) < 2:
        return None
    if not all(_is_number(row[1]) for row in rows) or any(row[0] is None for row in rows):
        return None
    dated = all(isinstance(row[0], str) and len(row[0]) >= 10 and row[0][4] == "-" for row in rows)
    return {"type": "line" if dated else "bar", "x": columns[0], "y": columns[1]}


def serialize(value: Any, *, interpreter: Interpreter, max_rows: int, max_chars: int) -> dict[str, Any]:
    if isinstance(value, QuerySet):
        qs = interpreter.readable(value)
        fetched = list(qs[: max_rows + 1])
        truncated = len(fetched) > max_rows
        fetched = fetched[:max_rows]
        total = qs.count() if truncated else len(fetched)
        columns = _columns(qs)
        rows = []
        for row in fetched:
            if isinstance(row, dict):
                columns = list(row)
                rows.append([cell(v, max_chars) for v in row.values()])
            elif isinstance(row, tuple):
                rows.append([cell(v, max_chars) for v in row])
            else:
                rows.append([cell(row, max_chars)])
        return _table(columns or ["value"], rows, truncated, total)
    if isinstance(value, dict):
        rows = [[cell(key, max_chars), _plain(item, interpreter, max_rows, max_chars)] for key, item in value.items()]
        truncated = len(rows) > max_rows
        return _table(["key", "value"], rows[:max_rows], truncated, len(rows))
    if isinstance(value, list | tuple):
        items = list(value)
        truncated = len(items) > max_rows
        items = items[:max_rows]
        if items and all(isinstance(item, dict) for item in items):
            columns = list(dict.fromkeys(key for item in items for key in item))
            rows = [[_plain(item.get(c), interpreter, max_rows, max_chars) for c in columns] for item in items]
        elif items and all(isinstance(item, list | tuple) for item in items):
            width = max(len(item) for item in items)
            columns = [f"column_{i + 1}" for i in range(width)]
            rows = [[_plain(v, interpreter, max_rows, max_chars) for v in item] for item in items]
        else:
            columns = ["value"]
            rows = [[_plain(item, interpreter, max_rows, max_chars)] for item in items]
        return _table(columns, rows, truncated, len(value))
    if isinstance(value, SCALARS):
        return {
            "kind": "number",
            "columns": ["result"],
            "rows": [[cell(value, max_chars)]],
            "row_count": 1,
            "truncated": False,
            "total": 1,
        }
    raise Refused("result_not_allowed", f"`result` cannot be a {type(value).__name__}.")


def _plain(value: Any, interpreter: Interpreter, max_rows: int, max_chars: int) -> Any:
    """A cell of a dict or list result: a scalar, or a nested query/list as a (capped) list."""
    if isinstance(value, QuerySet):
        nested = serialize(value, interpreter=interpreter, max_rows=max_rows, max_chars=max_chars)
        return [row[0] if len(row) == 1 else row for row in nested["rows"]]
    if isinstance(value, dict):
        return {str(k): _plain(v, interpreter, max_rows, max_chars) for k, v in list(value.items())[:max_rows]}
    if isinstance(value, list | tuple):
        return [_plain(v, interpreter, max_rows, max_chars) for v in list(value)[:max_rows]]
    if not isinstance(value, SCALARS + _DATABASE_VALUES):
        raise Refused("result_not_allowed", f"`result` cannot hold a {type(value).__name__}.")
    return cell(value, max_chars)


# Values a row read from the database may hold besides the literal types.
_DATABASE_VALUES = (uuid.UUID, datetime.time, bytes, memoryview)
