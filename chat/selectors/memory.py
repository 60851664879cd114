"""Reads of the user's memory: lists, lookups, stats, and the relevance ranking for context.

Relevance is lexical for now (word overlap with the current question, plus confidence,
verification and recency). `memories_rank` is the one function to replace with retrieval.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from appauth.models import AppUser
from backend.db import model_from_row, prepared_cursor, selected_columns
from backend.errors import NotFound
from chat.errors import ErrorCode
from chat.models import Chat, MemoryExtraction, MemorySettings, MemoryTag, UserMemory

# How many of the newest active memories are considered for one context (bounds the work).
CONTEXT_CANDIDATES = 200

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "a an and are as at be but by for from has have i in is it its me my of on or so that the their them "
        "they this to uses use user was were with you your about into likes like prefers prefer"
    ).split()
)


def words(text: str) -> frozenset[str]:
    """Normalised content words of `text` (lowercase, no stopwords, a plural `s` dropped)."""
    result = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or len(word) < 2:
            continue
        result.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(result)


def memory_enabled(*, user_id: Any) -> bool:
    """Memory is on unless the user switched it off."""
    return not MemorySettings.objects.filter(user_id=user_id, enabled=False).exists()


def memory_list(
    *,
    user: AppUser,
    q: str = "",
    category: str = "",
    tag: str = "",
    project_id: UUID | None = None,
    is_active: bool | None = True,
    is_verified: bool | None = None,
) -> QuerySet[UserMemory]:
    """The user's memories, newest change first, filtered; tags prefetched."""
    memories = UserMemory.objects.filter(user=user).select_related("project").prefetch_related("tags")
    if q:
        memories = memories.filter(Q(summary__icontains=q) | Q(raw_content__icontains=q) | Q(tags__name__iexact=q))
        memories = memories.distinct()
    if category:
        memories = memories.filter(category=category)
    if tag:
        memories = memories.filter(tags__name__iexact=tag)
    if project_id is not None:
        memories = memories.filter(project_id=project_id)
    if is_active is not None:
        memories = memories.filter(is_active=is_active)
    if is_verified is not None:
        memories = memories.filter(is_verified=is_verified)
    return memories.order_by("-updated_at", "-id")


def memory_get(*, user: AppUser, memory_id: UUID) -> UserMemory:
    memory = (
        UserMemory.objects.select_related("project").prefetch_related("tags").filter(user=user, id=memory_id).first()
    )
    if memory is None:
        raise NotFound("Memory not found.", code=ErrorCode.MEMORY_NOT_FOUND)
    return memory


def tag_list(*, user: AppUser) -> QuerySet[MemoryTag]:
    """The user's tags with how many active memories carry each."""
    return MemoryTag.objects.filter(user=user).annotate(
        memory_count=Count("memories", filter=Q(memories__is_active=True))
    )


def tag_get(*, user: AppUser, tag_id: int) -> MemoryTag:
    tag = tag_list(user=user).filter(id=tag_id).first()
    if tag is None:
        raise NotFound("Tag not found.", code=ErrorCode.MEMORY_TAG_NOT_FOUND)
    return tag


def memory_stats(*, user: AppUser) -> dict[str, Any]:
    memories = UserMemory.objects.filter(user=user)
    totals = memories.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(is_active=True)),
        verified=Count("id", filter=Q(is_active=True, is_verified=True)),
        project_scoped=Count("id", filter=Q(is_active=True, project__isnull=False)),
        times_referenced=Sum("times_referenced"),
        last_referenced_at=Max("last_referenced_at"),
        last_updated_at=Max("updated_at"),
    )
    by_category = dict(
        memories.filter(is_active=True).values_list("category").annotate(n=Count("id")).values_list("category", "n")
    )
    last_extraction = (
        MemoryExtraction.objects.filter(pair__chat__user=user).aggregate(at=Max("created_at"))["at"]
        if totals["total"]
        else None
    )
    return {
        **totals,
        "times_referenced": totals["times_referenced"] or 0,
        "enabled": memory_enabled(user_id=user.id),
        "by_category": by_category,
        "tags": MemoryTag.objects.filter(user=user).count(),
        "last_extraction_at": last_extraction,
    }


def memories_in_scope(
    *, user_id: Any, project_id: UUID | None, limit: int = CONTEXT_CANDIDATES, if_enabled: bool = False
) -> list[UserMemory]:
    """Active memories visible in a chat: global ones, plus the project's own inside that project.

    With `if_enabled`, none when the user switched memory off (`memory_enabled`), checked in
    the same query: recall before every turn costs one round trip, not two. A fixed statement
    (no ORM query to compile: recall runs before every turn's first token) that also brings
    each memory's tag names (`tag_names`, sorted), which ranking and rendering read: prefetching
    the tags cost another round trip and ~0.15 ms of CPU per memory. Read through a plain
    (prepared) cursor: a raw queryset worked out its columns and converters on every turn.
    """
    sql, params = memories_in_scope_statement(
        user_id=user_id, project_id=project_id, limit=limit, if_enabled=if_enabled
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return memories_from_rows(rows)


def memories_in_scope_statement(
    *, user_id: Any, project_id: UUID | None, limit: int = CONTEXT_CANDIDATES, if_enabled: bool = False
) -> tuple[str, list[Any]]:
    """`memories_in_scope`'s statement and parameters (for a caller that sends it with another one)."""
    params = [_db_value("user", user_id), _db_value("project", project_id), limit]
    return _in_scope_sql(enabled_only=if_enabled), params


def memories_in_chat_scope_statement(
    *, user_id: Any, chat_id: UUID, limit: int = CONTEXT_CANDIDATES, if_enabled: bool = False
) -> tuple[str, list[Any]]:
    """`memories_in_scope_statement` for the project of the user's chat `chat_id`, read in the
    statement itself (for a caller that has not read the chat yet: a follow-up's admission).
    A chat that is not the user's, or not there, has no project: the global memories only."""
    user, chat = _db_value("user", user_id), Chat._meta.pk.get_db_prep_value(chat_id, connection)
    return _in_scope_sql(enabled_only=if_enabled, by_chat=True), [user, chat, user, limit]


def memories_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[UserMemory]:
    """The memories of `memories_in_scope_statement`'s rows, with their `tag_names`."""
    memories = []
    for row in rows:
        memory, (names,) = model_from_row(UserMemory, row)
        assert memory is not None
        memory.__dict__["tag_names"] = tuple(sorted(json.loads(names) if isinstance(names, str) else names or ()))
        memories.append(memory)
    return memories


def tag_names(memory: UserMemory) -> tuple[str, ...]:
    """The memory's tag names, sorted: as `memories_in_scope` brought them, else from its tags."""
    names = memory.__dict__.get("tag_names")
    return names if names is not None else tuple(sorted(tag.name for tag in memory.tags.all()))


def _db_value(field: str, value: Any) -> Any:
    """`value` as the database takes it for the column of `field` (a UUID is text on SQLite)."""
    target = UserMemory._meta.get_field(field).target_field  # type: ignore[union-attr]
    return None if value is None else target.get_db_prep_value(value, connection)


@functools.cache
def _in_scope_sql(*, enabled_only: bool, by_chat: bool = False) -> str:
    memory, settings_table = UserMemory._meta.db_table, MemorySettings._meta.db_table
    tag, through = MemoryTag._meta.db_table, UserMemory.tags.through._meta.db_table
    # The tag names as a JSON array (unordered: sorted in Python).
    names = "json_agg(t.name)" if connection.vendor == "postgresql" else "json_group_array(t.name)"
    tag_names = f"(SELECT {names} FROM {tag} t JOIN {through} x ON x.memorytag_id = t.id WHERE x.usermemory_id = m.id)"  # noqa: S608 - table names only
    switched_on = (
        f" AND NOT EXISTS (SELECT 1 FROM {settings_table} s WHERE s.user_id = m.user_id AND NOT s.enabled)"  # noqa: S608 - a table name only
        if enabled_only
        else ""
    )
    project = (
        f"(SELECT c.project_id FROM {Chat._meta.db_table} c WHERE c.id = %s AND c.user_id = %s)"  # noqa: S608 - a table name only
        if by_chat
        else "%s"
    )
    return (
        f"SELECT {selected_columns(UserMemory, 'm')}, {tag_names} AS tag_names_json FROM {memory} m"  # noqa: S608 - table names only; values are parameters
        f" WHERE m.user_id = %s AND m.is_active{switched_on} AND (m.project_id IS NULL OR m.project_id = {project})"
        " ORDER BY m.updated_at DESC, m.id DESC LIMIT %s"
    )


def _score(memory: UserMemory, query_words: frozenset[str], now: datetime) -> float:
    memory_words = words(memory.summary) | {name.lower() for name in tag_names(memory)}
    overlap = len(query_words & memory_words) / len(query_words) if query_words else 0.0
    age_days = max((now - memory.updated_at).total_seconds() / 86400, 0.0)
    recency = 1 / (1 + age_days / 30)
    return 3 * overlap + memory.confidence + (0.5 if memory.is_verified else 0.0) + 0.25 * recency


def memories_rank(*, memories: Iterable[UserMemory], query: str) -> list[UserMemory]:
    """Most relevant first for `query`. Replaceable by retrieval (same inputs, same output)."""
    query_words = words(query)
    now = timezone.now()
    return sorted(memories, key=lambda memory: (-_score(memory, query_words, now), str(memory.id)))
