"""A turn written in one SQL statement on PostgreSQL: the fast path of `message_send`.

The ORM path (`chat.services.messages`) opens a transaction, locks the chat and writes the
pair, the two messages and the chat's new active leaf in separate statements: seven or nine
round trips before the first token. Here the same rows are written by **one** statement of
data-modifying CTEs (a new chat: chat, pair and both messages; a follow-up: pair, both
messages and the chat's leaf), in autocommit, so it is atomic by itself:

- the rows are model instances, rendered with each field's own `pre_save` and database
  preparation (defaults, `auto_now`, JSON) and sent as one JSON parameter per table that
  PostgreSQL reads into the table's row type (`backend.db.json_insert`), so a new field with a
  default needs no change here;
- a follow-up reads its chat and the leaf it continues (one owner-scoped query), then writes
  under a guard instead of a row lock: the UPDATE moves the leaf only if it is still the one
  that was read, and the pair and messages are inserted only if that UPDATE matched. A turn
  that raced another one on the same chat writes nothing and is read and written again, so
  concurrent turns still follow one another on the branch, as the ORM path's lock ensures;
- foreign keys are checked at the end of the statement (Django creates them deferrable), so
  a new chat can point at its first pair in the same statement;
- the statement's text depends only on the models (three texts in all), so it is bound on the
  server and planned once per connection (`backend.db.prepared_cursor`): psycopg no longer quotes
  the rows' JSON into the text, and PostgreSQL no longer parses and plans it on every turn.

Used when the database is PostgreSQL and the turn brings no attachments; the ORM path writes
everything else (SQLite, attachments, edits, regenerations) and is the fallback after repeated
races.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import QuerySet
from django.utils import timezone

from appauth.models import AppUser
from backend import errors
from backend.db import ReadAhead, json_insert, model_from_row, prepared_cursor, selected_columns
from backend.llm.tokens import estimate_text_tokens
from backend.streaming.engine import Engine
from chat.errors import ErrorCode
from chat.models import Attachment, Chat, Message, MessagePair, Project

# How often a follow-up is read and written again when another turn moved the chat's leaf
# between its read and its write, before the locking ORM path takes over.
RACE_RETRIES = 3

Turn = tuple[Chat, MessagePair, Message, Message]
# Called with a turn's rows just before the statement that writes them (the answer may start then).
BeforeWrite = Callable[[Chat, MessagePair, Message, Message], None]

CHAT_TABLE = Chat._meta.db_table


def available(*, attachment_ids: list[UUID] | None) -> bool:
    """Whether this path can write the turn (PostgreSQL, no attachments to claim)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql" and not attachment_ids


def _turn_rows(
    *, chat: Chat, parent: MessagePair | None, content: str, alias: str
) -> tuple[MessagePair, Message, Message]:
    pair = MessagePair(chat=chat, parent=parent, depth=0 if parent is None else parent.depth + 1)
    user_message = Message(
        pair=pair, user_id=chat.user_id, role=Message.Role.USER, text=content, token_count=estimate_text_tokens(content)
    )
    assistant_message = Message(
        pair=pair, user_id=chat.user_id, role=Message.Role.ASSISTANT, model_alias=alias, **Engine.new_record_fields()
    )
    return pair, user_message, assistant_message


@functools.cache
def _no_attachments() -> QuerySet[Attachment]:
    """An empty, already evaluated queryset of attachments, shared by every new user message.

    Iterating `Attachment.objects.none()` compiles a query each time only to find that there is
    nothing to run (~0.14 ms of CPU, on every turn's path to the first token: context assembly
    lists the new message's attachments). Evaluated once, it answers from its result cache.
    """
    empty = Attachment.objects.none()
    list(empty)
    return empty


def _written(pair: MessagePair, *messages: Message) -> None:
    """Mark instances as stored; the new user message has no attachments (no query to find out).

    Done before the statement runs, so that the answer's context can be assembled from them
    while it runs (`BeforeWrite`); instances of a statement that wrote nothing are dropped.
    """
    for obj in (pair, *messages):
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS
    user_message = messages[0]
    user_message._prefetched_objects_cache = {"attachments": _no_attachments()}  # type: ignore[attr-defined]


def turn_write_new(
    *,
    user: AppUser,
    project: Project | None,
    content: str,
    model: str | None,
    alias: str,
    before_write: BeforeWrite | None = None,
) -> Turn:
    """A new chat with its first turn, in one statement."""
    chat = Chat(user=user, project=project, model=model or "")
    pair, user_message, assistant_message = _turn_rows(chat=chat, parent=None, content=content, alias=alias)
    chat.active_leaf = pair
    chat.last_message_preview = content[: Chat._meta.get_field("last_message_preview").max_length]
    chat_sql, chat_params = json_insert(Chat, [chat])
    pair_sql, pair_params = json_insert(MessagePair, [pair])
    messages_sql, messages_params = json_insert(Message, [user_message, assistant_message])
    chat._state.adding = False
    chat._state.db = DEFAULT_DB_ALIAS
    _written(pair, user_message, assistant_message)
    if before_write is not None:
        before_write(chat, pair, user_message, assistant_message)
    with prepared_cursor() as cursor:  # a fixed text: planned once per connection, bound on the server
        cursor.execute(
            f"WITH new_chat AS ({chat_sql}), new_pair AS ({pair_sql}), new_messages AS ({messages_sql}) SELECT 1",
            [*chat_params, *pair_params, *messages_params],
        )
    return chat, pair, user_message, assistant_message


@functools.cache
def _chat_read_sql() -> str:
    """`Chat.objects.select_related("active_leaf", "project").filter(id=..., user=...)` as fixed text.

    Compiling that query cost ~1 ms of CPU per follow-up, more than running it; this statement is
    also prepared once per connection (`prepared_cursor`).
    """
    quote = connection.ops.quote_name
    columns = selected_columns
    chat, pair, project = (quote(model._meta.db_table) for model in (Chat, MessagePair, Project))
    return (
        f"SELECT {columns(Chat, 'c')}, {columns(MessagePair, 'p')}, {columns(Project, 'j')} FROM {chat} c"  # noqa: S608 - names from the models; values are parameters
        f" LEFT JOIN {pair} p ON p.id = c.active_leaf_id LEFT JOIN {project} j ON j.id = c.project_id"
        " WHERE c.id = %(chat)s AND c.user_id = %(user)s"
    )


# A follow-up's chat row read ahead in this context (`read_chat_ahead`), keyed (chat id, user id).
_chat_ahead: ReadAhead[tuple[UUID, Any], tuple[Any, ...] | None] = ReadAhead(
    "chat_read_ahead", lambda rows: rows[0] if rows else None
)


def read_chat_ahead(*, chat_id: UUID, user_id: Any) -> None:
    """Read a follow-up's chat with the admission's running-answers count (`backend.db.ride_along`).

    Call it on the database thread, in the admission's context: the first attempt of
    `turn_write_follow_up` there takes the row instead of reading it (a turn written again after
    a race reads it afresh). The row is read a moment earlier, which changes nothing: the
    write is guarded by the leaf it saw either way.
    """
    _chat_ahead.send((chat_id, user_id), _chat_read_sql(), {"chat": chat_id, "user": user_id})


def _chat_with_leaf(*, chat_id: UUID, user: AppUser) -> Chat | None:
    """The user's chat with its active leaf and project loaded, or None (not found, or not theirs)."""
    ahead = _chat_ahead.take()  # taken once
    if ahead is not None and ahead[0] == (chat_id, user.pk):
        row = ahead[1]
    else:
        with prepared_cursor() as cursor:
            cursor.execute(_chat_read_sql(), {"chat": chat_id, "user": user.pk})
            row = cursor.fetchone()
    if row is None:
        return None
    chat, rest = model_from_row(Chat, row)
    leaf, rest = model_from_row(MessagePair, rest)
    project, _ = model_from_row(Project, rest)
    assert isinstance(chat, Chat)
    chat.active_leaf = leaf  # a leaf-less chat's is None, as the ORM loads it
    chat.project = project
    return chat


def turn_write_follow_up(
    *,
    user: AppUser,
    chat_id: UUID,
    parent_pair_id: UUID | None,
    content: str,
    resolve_alias: Callable[[Chat], str],
    before_write: BeforeWrite | None = None,
) -> Turn | None:
    """A turn in an existing chat: one read, then one guarded statement. None after repeated races.

    `resolve_alias(chat)` is the alias the answer uses. Raises NotFound for a chat or parent
    the user does not own. `before_write` is called before each attempt's statement (with that
    attempt's rows: a turn written again after a race has new ones).
    """
    for _ in range(RACE_RETRIES):
        # The project (context, tools) comes in the same read; the owner is the one asking.
        chat = _chat_with_leaf(chat_id=chat_id, user=user)
        if chat is None:
            raise errors.NotFound("No such chat.", code=ErrorCode.CHAT_NOT_FOUND)
        chat.user = user
        alias = resolve_alias(chat)
        seen_leaf_id = chat.active_leaf_id
        if parent_pair_id is not None:
            parent = MessagePair.objects.filter(id=parent_pair_id, chat=chat).first()
            if parent is None:
                raise errors.NotFound("No such message in this chat.", code=ErrorCode.PAIR_NOT_FOUND)
        else:
            parent = chat.active_leaf
        pair, user_message, assistant_message = _turn_rows(chat=chat, parent=parent, content=content, alias=alias)
        preview = content[: Chat._meta.get_field("last_message_preview").max_length]
        now = timezone.now()
        # An explicit parent does not depend on the leaf; continuing the branch does.
        leaf_guard = "" if parent_pair_id is not None else " AND active_leaf_id IS NOT DISTINCT FROM %s::uuid"
        pair_sql, pair_params = json_insert(MessagePair, [pair], guard="moved")
        messages_sql, messages_params = json_insert(Message, [user_message, assistant_message], guard="moved")
        update_params: list[Any] = [pair.id, preview, now, chat.id, user.pk]
        if leaf_guard:
            update_params.append(seen_leaf_id)
        set_leaf = "active_leaf_id = %s::uuid, last_message_preview = %s, updated_at = %s"
        move = f"UPDATE {CHAT_TABLE} SET {set_leaf} WHERE id = %s::uuid AND user_id = %s{leaf_guard} RETURNING 1"  # noqa: S608 - constants; values are parameters
        inserts = f"new_pair AS ({pair_sql}), new_messages AS ({messages_sql})"
        sql = f"WITH moved AS ({move}), {inserts} SELECT count(*) FROM moved"  # noqa: S608 - as above
        _written(pair, user_message, assistant_message)
        if before_write is not None:
            before_write(chat, pair, user_message, assistant_message)
        with prepared_cursor() as cursor:  # two fixed texts (with or without the leaf guard)
            cursor.execute(sql, [*update_params, *pair_params, *messages_params])
            row = cursor.fetchone()
        if row and row[0]:
            chat.active_leaf = pair
            chat.last_message_preview = preview
            chat.updated_at = now
            return chat, pair, user_message, assistant_message
        if parent_pair_id is not None:  # nothing can race an explicit parent: the chat is gone
            raise errors.NotFound("No such chat.", code=ErrorCode.CHAT_NOT_FOUND)
    return None
