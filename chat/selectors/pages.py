"""The chat list and history pages rendered by PostgreSQL, for the read endpoints' fast path.

The REST views serialize model instances through DRF (`chat.serializers`), which costs far more
Python than the queries themselves. On PostgreSQL these selectors let the database build the
JSON of the same shapes (`json_build_object`/`json_agg`) in one statement, so a page is a few
database round trips and string joins. Other databases keep the ORM path (`chats.branch_page`,
`chats.chat_list`). The ORM serializers stay the schema's source of truth; the tests compare
both renderings on the same data.

History pages are cached per chat and version: `Chat.history_version` is raised by database
triggers on every write to the chat's pairs, messages and attachments and on every branch
switch, so one indexed read of that column (which also scopes the chat to its owner) tells
whether a cached page is current. The pages read last are also kept in the process (a bounded
LRU), so a repeated read costs that one statement and no cache round trip.

A caller that authenticated from a process-local memo passes a `backend.db.SqlGuard`: a condition the
statement itself checks (the token row still there, its user active), so a page is never read
for credentials revoked since. When it does not hold, the selectors answer as for a chat that
is not the user's (None) or raise `GuardFailed` (the list, which has no such answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from backend.db import GuardFailed, SqlGuard, guard_holds, prepared_cursor
from backend.memo import LocalMemo
from chat.models import Attachment, Chat, Message, MessagePair

CHAT = Chat._meta.db_table
PAIR = MessagePair._meta.db_table
MESSAGE = Message._meta.db_table
ATTACHMENT = Attachment._meta.db_table


def _guarded(condition: str, guard: SqlGuard | None) -> str:
    return condition if guard is None else f"{condition} AND ({guard.sql})"


def available() -> bool:
    """Whether the database can render the pages (PostgreSQL); otherwise use the ORM path."""
    return connection.vendor == "postgresql"


def _microseconds(column: str, fmt: str) -> str:
    return (
        f"CASE WHEN mod(date_part('microseconds', {column})::bigint, 1000000) = 0 THEN ''"
        f" ELSE to_char({column} AT TIME ZONE 'UTC', '{fmt}') END"
    )


def _position(column: str) -> str:
    """SQL rendering a timestamptz as `str()` renders it in Python (UTC): `2026-01-02 03:04:05[.ffffff]+00:00`.

    DRF's cursor paginator keeps `str(value)` of a row's ordering field as the cursor position;
    text from the database spares parsing every row's timestamp to build two positions.
    """
    return (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || {_microseconds(column, '.US')} || '+00:00'"
    )


def _iso(column: str) -> str:
    """SQL rendering a timestamptz the way DRF does: ISO 8601 in UTC with `Z`, microseconds only if any."""
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE "
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || {_microseconds(column, '.US')} || 'Z' END"
    )


# --- the chat list -----------------------------------------------------------------------------

_CHAT_JSON = f"""json_build_object(
    'id', c.id, 'title', c.title, 'title_source', c.title_source, 'project_id', c.project_id,
    'model', c.model, 'archived', c.archived, 'incognito', c.incognito,
    'last_message_preview', c.last_message_preview,
    'created_at', {_iso("c.created_at")}, 'updated_at', {_iso("c.updated_at")}
)::text"""

_ORDERINGS: dict[tuple[str, ...], str] = {
    ("-updated_at", "-id"): "c.updated_at DESC, c.id DESC",
    ("updated_at", "id"): "c.updated_at ASC, c.id ASC",
}
_POSITION_FILTERS = {"updated_at__lt": "c.updated_at < %(position)s", "updated_at__gt": "c.updated_at > %(position)s"}


@dataclass(frozen=True)
class ChatListRows:
    """The user's chats as rows `{"updated_at": str, "json": str}`, ready for DRF's cursor paginator.

    It answers the three operations `CursorPagination.paginate_queryset` performs on a queryset
    (`order_by` on the list ordering or its reverse, `filter` on the cursor position, a slice),
    so cursors, their validation and the `next`/`previous` links stay DRF's own. The `json` of
    a row is the `ChatListSerializer` shape, rendered by PostgreSQL (the `chat_list` index);
    `updated_at` is the text DRF makes of the timestamp for a cursor (`str()` of it).
    """

    model = Chat
    user_id: Any
    archived: bool
    project_id: UUID | None = None
    ordering: tuple[str, ...] = ("-updated_at", "-id")
    position: tuple[str, str] | None = None  # (lookup, value)
    guard: SqlGuard | None = None

    def order_by(self, *ordering: str) -> ChatListRows:
        if tuple(ordering) not in _ORDERINGS:
            raise ValueError(f"Unsupported ordering {ordering!r}.")
        return replace(self, ordering=tuple(ordering))

    def filter(self, **lookup: str) -> ChatListRows:
        [(name, value)] = lookup.items()
        if name not in _POSITION_FILTERS:
            raise ValueError(f"Unsupported filter {name!r}.")
        return replace(self, position=(name, str(value)))

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        assert isinstance(window, slice) and window.step is None
        offset, stop = window.start or 0, window.stop
        conditions = ["c.user_id = %(user)s", "c.archived = %(archived)s"]
        params: dict[str, Any] = {"user": self.user_id, "archived": self.archived}
        if self.project_id is not None:
            conditions.append("c.project_id = %(project)s")
            params["project"] = self.project_id
        if self.position is not None:
            conditions.append(_POSITION_FILTERS[self.position[0]])
            params["position"] = self.position[1]
        where = _guarded(" AND ".join(conditions), self.guard)
        # The window is written into the statement (integers; a page size and a small offset make
        # a handful of statements): with `LIMIT $n`, PostgreSQL's generic plan looks costlier than
        # a custom one, so the prepared statement was planned again on every run.
        sql = (
            f"SELECT {_position('c.updated_at')}, {_CHAT_JSON} FROM {CHAT} c WHERE {where} "  # noqa: S608 - table names and fixed fragments; values are parameters
            f"ORDER BY {_ORDERINGS[self.ordering]} OFFSET {int(offset)} LIMIT {int(stop - offset)}"
        )
        params.update(self.guard.params if self.guard is not None else {})
        with prepared_cursor() as cursor:
            cursor.execute(sql, params)
            rows = [{"updated_at": position, "json": text} for position, text in cursor.fetchall()]
        if not rows and self.guard is not None and not guard_holds(self.guard):  # no chats, or refused
            raise GuardFailed
        return rows


def chat_list_rows(
    *, user_id: Any, archived: bool = False, project_id: UUID | None = None, guard: SqlGuard | None = None
) -> ChatListRows:
    """What `chats.chat_list` selects, as JSON rows for the cursor paginator (PostgreSQL)."""
    return ChatListRows(user_id=user_id, archived=archived, project_id=project_id, guard=guard)


def json_array(items: Sequence[str] | Iterator[str]) -> str:
    return "[" + ",".join(items) + "]"


# --- the history page --------------------------------------------------------------------------

# `download_url` holds the stored file's name here: the URL is signed per request (`with_download_urls`).
_ATTACHMENTS = f"""(SELECT COALESCE(json_agg(json_build_object(
    'id', a.id, 'name', a.name, 'kind', a.kind, 'format', a.format, 'mime_type', a.mime_type,
    'size_bytes', a.size_bytes, 'width', a.width, 'height', a.height, 'download_url', a.file)
    ORDER BY a.created_at, a.id), '[]'::json)
  FROM {ATTACHMENT} a WHERE a.message_id = m.id)"""  # noqa: S608 - table names and fixed fragments; values are parameters

_USER_JSON = f"""(SELECT json_build_object(
    'id', m.id, 'text', m.text, 'created_at', {_iso("m.created_at")}, 'attachments', {_ATTACHMENTS})
  FROM {MESSAGE} m WHERE m.pair_id = t.id AND m.role = 'user')"""  # noqa: S608 - table names and fixed fragments; values are parameters

_CITATIONS = """(SELECT COALESCE(json_agg(json_build_object(
    'index', e->'index', 'chunk_id', e->'chunk_id', 'knowledge_id', e->'knowledge_id', 'title', e->'title',
    'section', e->'section', 'text', e->'text', 'score', e->'score') ORDER BY o), '[]'::json)
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.citations) = 'array' THEN m.citations ELSE '[]' END)
       WITH ORDINALITY AS x(e, o))"""

_TOOL_CALLS = """(SELECT COALESCE(json_agg(json_build_object(
    'call_id', e->'call_id', 'tool', e->'tool', 'kind', e->'kind', 'input', e->'input', 'step', e->'step',
    'status', e->'status', 'is_error', e->'is_error', 'content', e->'content') ORDER BY o), '[]'::json)
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.tool_calls) = 'array' THEN m.tool_calls ELSE '[]' END)
       WITH ORDINALITY AS x(e, o))"""

_ASSISTANT_JSON = f"""(SELECT json_build_object(
    'id', m.id, 'status', m.status, 'text', m.text, 'model_alias', m.model_alias, 'model_id', m.model_id,
    'stop_reason', m.stop_reason, 'error_code', m.error_code, 'error_message', m.error_message,
    'usage', json_build_object(
        'input_tokens', m.input_tokens, 'output_tokens', m.output_tokens,
        'cache_read_tokens', m.cache_read_tokens, 'cache_write_tokens', m.cache_write_tokens,
        'cost', m.cost::numeric(12, 6)::text),
    'knowledge_mode', m.knowledge_mode, 'citations', {_CITATIONS}, 'tool_calls', {_TOOL_CALLS},
    'created_at', {_iso("m.created_at")}, 'completed_at', {_iso("m.completed_at")})
  FROM {MESSAGE} m WHERE m.pair_id = t.id AND m.role = 'assistant')"""  # noqa: S608 - table names and fixed fragments; values are parameters

# The active branch is the path from the active leaf to the root; a pair's depth is its place on
# it, so the page [start, end) is reached by walking up from the leaf only until depth `start`.
# Sibling positions order versions by (created_at, id as text), as `chats._sibling_positions` does.
_BRANCH_PAGE = f"""
WITH RECURSIVE
chat AS (
  SELECT c.id, c.active_leaf_id, c.history_version FROM {CHAT} c
   WHERE c.id = %(chat)s AND c.user_id = %(user)s {{guard}}
),
span0 AS (
  SELECT chat.history_version, COALESCE(leaf.depth + 1, 0) AS total
  FROM chat LEFT JOIN {PAIR} leaf ON leaf.id = chat.active_leaf_id
),
span1 AS (
  SELECT history_version, total,
         CASE WHEN %(before)s::int IS NULL THEN total ELSE LEAST(GREATEST(%(before)s::int, 0), total) END AS stop
  FROM span0
),
span AS (SELECT history_version, total, stop, GREATEST(0, stop - %(limit)s::int) AS start FROM span1),
walk AS (
  SELECT p.id, p.parent_id, p.depth, p.hidden, p.created_at
    FROM chat JOIN {PAIR} p ON p.id = chat.active_leaf_id
  UNION ALL
  SELECT p.id, p.parent_id, p.depth, p.hidden, p.created_at
    FROM walk w JOIN {PAIR} p ON p.id = w.parent_id
   WHERE w.depth > (SELECT start FROM span)
),
turns AS (SELECT w.* FROM walk w, span WHERE w.depth >= span.start AND w.depth < span.stop)
SELECT span.history_version, span.total, span.start, span.stop,
  (SELECT COALESCE(json_agg(json_build_object(
      'pair_id', t.id, 'parent_id', t.parent_id, 'depth', t.depth, 'hidden', t.hidden,
      'sibling_count', sib.n, 'sibling_index', sib.idx,
      'user', {_USER_JSON}, 'assistant', {_ASSISTANT_JSON}) ORDER BY t.depth), '[]'::json)::text
   FROM turns t CROSS JOIN LATERAL (
     SELECT count(*) AS n,
            count(*) FILTER (
              WHERE (s.created_at, s.id::text COLLATE "C") < (t.created_at, t.id::text COLLATE "C")) AS idx
       FROM {PAIR} s
      WHERE s.chat_id = %(chat)s AND s.depth = t.depth AND s.parent_id IS NOT DISTINCT FROM t.parent_id
   ) sib)
FROM span
"""  # noqa: S608 - table names and fixed fragments; values are parameters

_VERSION = f"SELECT history_version FROM {CHAT} c WHERE c.id = %(chat)s AND c.user_id = %(user)s {{guard}}"  # noqa: S608 - table names and fixed fragments; values are parameters


def _with_guard(sql: str, params: dict[str, Any], guard: SqlGuard | None) -> tuple[str, dict[str, Any]]:
    if guard is None:
        return sql.replace("{guard}", ""), params
    return sql.replace("{guard}", f"AND ({guard.sql})"), {**params, **guard.params}


@dataclass(frozen=True)
class BranchPageJson:
    """A page of the active branch: `turns` is the JSON array of `TurnSerializer` objects.

    With `has_attachments`, each attachment's `download_url` still holds the stored file's name:
    pass the page through `with_download_urls` before sending it.
    """

    turns: str
    start: int
    end: int
    total: int
    limit: int
    has_attachments: bool = False

    @property
    def previous_before(self) -> int | None:
        return self.start if self.start > 0 else None

    @property
    def next_before(self) -> int | None:
        return None if self.end >= self.total else min(self.total, self.end + self.limit)


_MAX_DEPTH = 2**31 - 1

# An attachment object's key in the rendered page. Inside a JSON string a quote is always escaped,
# so only a key can match; a tool result's own `download_url` key may match too, which costs the
# page one needless URL pass and nothing else. (A separate EXISTS over the page's messages and
# attachments was ~18 % of the statement.)
_ATTACHMENT_KEY = re.compile(r'"download_url"\s*:')


def _cache_key(chat_id: UUID, version: int, before: int | None, limit: int) -> str:
    return f"chat:history:{chat_id}:{version}:{'' if before is None else before}:{limit}"


# The most recently read cached pages, kept in this process too (a key holds the chat's history
# version, so an entry is exact for as long as it lives).
_page_memo: LocalMemo[BranchPageJson] = LocalMemo(16 * 1024 * 1024, size=lambda page: len(page.turns))


def branch_page_json(
    *, user_id: Any, chat_id: UUID, before: int | None = None, limit: int = 50, guard: SqlGuard | None = None
) -> BranchPageJson | None:
    """The page `chats.branch_page` would give, as JSON; None when the chat is not the user's.

    Cached per (chat, history version, before, limit) for `CHAT_HISTORY_CACHE_SECONDS`; a hit
    costs one indexed read of the version, a miss one more statement. None too when `guard`
    does not hold.
    """
    if before is not None:
        before = min(before, _MAX_DEPTH)  # a pair's depth is a 32-bit integer: any larger cursor means "the end"
    seconds = int(settings.CHAT_HISTORY_CACHE_SECONDS)
    if seconds > 0:
        with prepared_cursor() as cursor:
            cursor.execute(*_with_guard(_VERSION, {"chat": chat_id, "user": user_id}, guard))
            row = cursor.fetchone()
        if row is None:
            return None
        key = _cache_key(chat_id, row[0], before, limit)
        cached = _page_memo.get(key) or cache.get(key)
        if isinstance(cached, BranchPageJson) and cached.limit == limit:
            _page_memo.put(key, cached)
            return cached
    with prepared_cursor() as cursor:
        cursor.execute(
            *_with_guard(_BRANCH_PAGE, {"chat": chat_id, "user": user_id, "before": before, "limit": limit}, guard)
        )
        found = cursor.fetchone()
    if found is None:
        return None
    version, total, start, end, turns = found
    page = BranchPageJson(
        turns=turns,
        start=start,
        end=end,
        total=total,
        limit=limit,
        has_attachments=_ATTACHMENT_KEY.search(turns) is not None,
    )
    if seconds > 0:
        key = _cache_key(chat_id, version, before, limit)
        cache.set(key, page, timeout=seconds)
        _page_memo.put(key, page)
    return page


def with_download_urls(turns: str, url: Callable[[str], str]) -> str:
    """`turns` with each attachment's stored name replaced by `url(name)` (signed per request)."""
    parsed = json.loads(turns)
    for turn in parsed:
        for attachment in (turn.get("user") or {}).get("attachments", []):
            attachment["download_url"] = url(attachment["download_url"])
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def chat_history_version(*, chat_id: UUID) -> int:
    """The chat's current history version (0 when it does not exist, and always on other databases)."""
    value = Chat.objects.filter(id=chat_id).values_list("history_version", flat=True).first()
    return int(value or 0)
