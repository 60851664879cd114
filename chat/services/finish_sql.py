"""An answer's terminal state written in one SQL statement on PostgreSQL: the fast path of finishing.

The engine's generic path (`Engine.finish`) writes the answer's ledger rows, opens a
transaction, updates the answer, reads it back with its chat, and the chat adapter then touches
the chat and adds the call to the usage roll-up: seven round trips after the last token. Here
the same writes are **one** statement of data-modifying CTEs, in autocommit, so they are atomic
by themselves:

- the answer's UPDATE is the one `QuerySet.update` compiles (same fields, same preparation),
  guarded by `status = streaming` so that a terminal state is written once; its text is kept per
  shape of values, and only the values are prepared per answer (`_update`);
- the chat's `updated_at` and the roll-up row (`chat.services.usage`: created or incremented,
  same conflict target) are written only when that UPDATE matched, and the roll-up only when a
  model was called;
- the answer's held ledger rows (`backend.llm.usage`: its model calls) are inserted by the same
  statement, whether or not the UPDATE matched;
- the statement returns what scheduling the follow-ups needs (the chat, its title source,
  incognito, the user's memory switch: no extraction is enqueued for a user who turned memory off);
- its text takes a few shapes (the values', and whether it has ledger rows), so it is bound on the
  server and planned once per connection (`backend.db.prepared_cursor`), not parsed anew per answer.

Used on PostgreSQL; SQLite takes the engine's path (`ChatAdapter.finished`).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from backend.db import prepared_cursor, quoted_column
from backend.llm import usage
from backend.llm.usage import UsageRecord
from chat.models import Chat, MemorySettings, Message, MessagePair
from chat.services.usage import ROLLED_UP, rollup_upsert_from


@dataclass(frozen=True)
class Finished:
    """The chat of an answer whose terminal state was just written."""

    chat: Chat
    memory_enabled: bool  # the user's memory switch, read in the same statement


def available() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


@functools.cache
def _tail_sql() -> str:
    """The statement after the answer's UPDATE (a `done` CTE): chat, roll-up, and what is returned."""
    quote = connection.ops.quote_name
    chat_table, pair_table = quote(Chat._meta.db_table), quote(MessagePair._meta.db_table)

    chat_id, user, project, model_id = (
        quoted_column(Chat, "id"),
        quoted_column(Chat, "user"),
        quoted_column(Chat, "project"),
        quoted_column(Message, "model_id"),
    )
    returned = [quoted_column(Chat, name) for name in ("id", "user", "project", "title_source", "incognito")]
    added = ", ".join(f"done.{quoted_column(Message, name)}" for name in ROLLED_UP)
    touched = (
        f"UPDATE {chat_table} AS c SET {quoted_column(Chat, 'updated_at')} = %s FROM {pair_table} AS p, done"  # noqa: S608 - names from the models
        f" WHERE p.{quoted_column(MessagePair, 'id')} = done.{quoted_column(Message, 'pair')}"
        f" AND c.{chat_id} = p.{quoted_column(MessagePair, 'chat')}"
        f" RETURNING {', '.join('c.' + name for name in returned)}"
    )
    # The roll-up's columns: its key (user, chat reference, day, purpose, model), chat, project, calls, figures.
    source = (
        f"SELECT touched.{user}, touched.{chat_id}, %s::date, %s, done.{model_id}, touched.{chat_id},"  # noqa: S608 - as above
        f" touched.{project}, 1, {added} FROM touched, done WHERE done.{model_id} <> ''"
    )
    rollup = rollup_upsert_from(source)
    switched_off = (
        f"EXISTS (SELECT 1 FROM {quote(MemorySettings._meta.db_table)} AS s"  # noqa: S608 - as above
        f" WHERE s.{quoted_column(MemorySettings, 'user')} = touched.{user}"
        f" AND NOT s.{quoted_column(MemorySettings, 'enabled')})"
    )
    selected = ", ".join([*returned, switched_off])
    return f", touched AS ({touched}), rollup AS ({rollup}) SELECT {selected} FROM touched"  # noqa: S608


@functools.lru_cache(maxsize=64)
def _update_sql(shape: tuple[tuple[str, bool], ...]) -> str:
    """The UPDATE `QuerySet.update` compiles for a streaming answer and values of `shape`.

    `shape`: each value's field name and whether it is NULL, in order. The SET list is written as
    `SQLUpdateCompiler` writes it; the WHERE clause is the compiler's own.
    """
    query = Message.objects.filter(id=uuid.UUID(int=0), status=Message.Status.STREAMING).query.chain(UpdateQuery)
    compiler = query.get_compiler(connection.alias)
    where, _ = compiler.compile(query.where)
    quote = compiler.quote_name_unless_alias
    fields = Message._meta
    sets = ", ".join(f"{quote(fields.get_field(name).column)} = {'NULL' if null else '%s'}" for name, null in shape)  # type: ignore[union-attr]
    return f"UPDATE {quote(fields.db_table)} SET {sets} WHERE {where}"  # noqa: S608 - names from the model


def _update(record_id: UUID, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement and parameters of `Message.objects.filter(id=record_id, status=streaming).update(**values)`.

    Compiling it took ~120 µs per answer; the text depends only on which fields are set and which
    are NULL, so it is kept per shape and only the values are prepared, as the compiler prepares
    them (`get_db_prep_save`). Values the compiler treats otherwise (expressions, model
    instances, fields with their own placeholder) take the compiler's path.
    """
    shape: list[tuple[str, bool]] = []
    params: list[Any] = []
    for name, value in values.items():
        field = Message._meta.get_field(name)
        if (
            hasattr(value, "resolve_expression")
            or hasattr(value, "prepare_database_save")
            or hasattr(field, "get_placeholder")
        ):
            return _compiled_update(record_id, values)
        prepared = field.get_db_prep_save(value, connection=connection)  # type: ignore[union-attr]
        if hasattr(prepared, "as_sql"):
            return _compiled_update(record_id, values)
        shape.append((name, prepared is None))
        if prepared is not None:
            params.append(prepared)
    pk, status = Message._meta.pk, Message._meta.get_field("status")
    assert pk is not None
    params.append(pk.get_db_prep_value(pk.get_prep_value(record_id), connection, prepared=True))
    params.append(status.get_db_prep_value(status.get_prep_value(Message.Status.STREAMING), connection, prepared=True))
    return _update_sql(tuple(shape)), params


def _compiled_update(record_id: UUID, values: dict[str, Any]) -> tuple[str, list[Any]]:
    query = Message.objects.filter(id=record_id, status=Message.Status.STREAMING).query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(connection.alias).as_sql()
    return sql, list(params)


@functools.cache
def _returning() -> str:
    table = connection.ops.quote_name(Message._meta.db_table)
    names = ("pair", "model_id", *ROLLED_UP)
    return " RETURNING " + ", ".join(f"{table}.{quoted_column(Message, name)}" for name in names)


def finish_write(
    *, record_id: UUID, values: dict[str, Any], purpose: str, ledger: list[UsageRecord] | None = None
) -> Finished | None:
    """Write `values` on the streaming answer `record_id`, touch its chat, roll its usage up,
    and append the `ledger` rows (the answer's held model calls, `backend.llm.usage`).

    None when the answer was not streaming any more (someone else wrote its terminal state);
    the ledger rows are written either way.
    """
    update_sql, update_params = _update(record_id, values)
    insert_sql, insert_params, rows = ("", [], []) if not ledger else usage.ledger_insert(ledger)
    inserted = f", ledger AS ({insert_sql})" if ledger else ""
    now = timezone.now()
    try:
        with prepared_cursor() as cursor:  # a few fixed texts (the values' shape, a ledger or none)
            cursor.execute(
                f"WITH done AS ({update_sql}{_returning()}){inserted}{_tail_sql()}",
                [*update_params, *insert_params, now, timezone.localdate(now), purpose],
            )
            row = cursor.fetchone()
    except Exception:
        usage.record_usages(ledger or [])  # nothing was written: what the calls cost is kept all the same
        raise
    usage.record_spent(rows)
    if row is None:
        return None
    chat_id, user_id, project_id, title_source, incognito, memory_off = row
    chat = Chat(id=chat_id, user_id=user_id, project_id=project_id, title_source=title_source, incognito=incognito)
    chat._state.adding = False
    chat._state.db = DEFAULT_DB_ALIAS
    return Finished(chat=chat, memory_enabled=not memory_off)
