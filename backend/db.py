"""Database work from async code, on a bounded pool of threads with their own connections.

`sync_to_async(thread_sensitive=True)` — what Django's async ORM methods use — runs the call on
the current request's thread, and that thread keeps its database connection until the request
ends. A streamed answer is a request that lasts many seconds, so every open stream would hold a
connection (and a thread): a few hundred streams exhaust the connection pool. `db_sync_to_async`
runs database work on `DB_THREADS` dedicated threads instead; each keeps one connection, so the
number of connections is bounded whatever the number of open streams.

Two ways to keep a request's reads off its critical path: `db_submit` starts a call on another
of these threads and `ahead_result` collects it (never waiting for one still queued), and
`ride_along` sends a read in the same round trip as the next `fetchone_with_riders` statement
(psycopg's pipeline mode); `ReadAhead` keeps such a read's result for the step that needs it.
`prepared_cursor` binds hot statements on the server and plans them once per connection, and
`json_insert` writes model instances with one parameter per table.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, ParamSpec, TypeVar
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections
from django.db import Error as DatabaseError
from django.db import models as model_fields
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin
from psycopg.types.json import Json, Jsonb

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K")
M = TypeVar("M", bound=Model)

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def db_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=settings.DB_THREADS, thread_name_prefix="db")
    return _executor


def _with_connection_recovery(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (InterfaceError, OperationalError):
            # The thread's connection may be broken (database restarted): drop it, so the next
            # call on this thread reconnects, and let the caller see this call's failure.
            for connection in connections.all(initialized_only=True):
                with contextlib.suppress(DatabaseError):
                    connection.close()
            raise

    return run


def db_sync_to_async(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`function` (sync, touching the database) as a coroutine run on the database threads."""
    return sync_to_async(_with_connection_recovery(function), thread_sensitive=False, executor=db_executor())


async def db_call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`await db_sync_to_async(function)(*args)` with less bookkeeping, for short, hot hops.

    asgiref's `SyncToAsync` also copies the function's context changes back to the caller and
    records the thread for `async_to_sync` calls made inside it; on a read that takes a few
    hundred microseconds that bookkeeping was ~15 % of the server's CPU under load. Here the
    function runs on the same database threads in a copy of the caller's context, whose changes
    stay there. Use it only for functions that set nothing the caller reads afterwards and do not
    call `async_to_sync`.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(_with_connection_recovery(function), *args, **kwargs)
    return await loop.run_in_executor(db_executor(), contextvars.copy_context().run, call)


def db_submit(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """`function(*args, **kwargs)` started now on a database thread (its own connection); collect
    it later with `ahead_result`.

    For a read a request will need after round trips of its own (from a database thread): it
    runs meanwhile instead of after them. It runs in a copy of the caller's context.
    """
    call = functools.partial(_with_connection_recovery(function), *args, **kwargs)
    return db_executor().submit(contextvars.copy_context().run, call)


def ahead_result(future: Future[R], read: Callable[[], R]) -> R:
    """What `db_submit` started, or `read()` here when it has not started or has failed.

    Never waits for a call still queued: every database thread may be busy with a caller waiting
    for its own, so such a call is cancelled and made by the caller. A running call is waited
    for (another thread is on it). A failed one is made again here, whose error the caller sees.
    """
    if future.cancel():
        return read()
    try:
        return future.result()
    except Exception:
        logger.debug("a read ahead failed; reading again", exc_info=True)
        return read()


def close_connections() -> None:
    """Close the connection of every database thread (at shutdown, and between test sessions)."""
    executor = _executor
    if executor is None:
        return
    workers = settings.DB_THREADS
    # Every worker must take exactly one task: each waits at the barrier until all are busy.
    barrier = threading.Barrier(workers)

    def close() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        connections.close_all()

    for future in [executor.submit(close) for _ in range(workers)]:
        future.result()


async def aclose_connections() -> None:
    """`close_connections` for the ASGI shutdown hooks."""
    await sync_to_async(close_connections, thread_sensitive=False)()


@dataclass(frozen=True)
class SqlGuard:
    """A boolean SQL expression with named parameters (`%(name)s`) that a statement must satisfy.

    A reader that trusted something from memory (a process-local memo of a verified token, say)
    puts the condition that makes it still true into its own statement instead of paying a
    round trip for it; selectors that take a guard answer as "not found" when it fails.
    """

    sql: str
    params: dict[str, Any]


class GuardFailed(Exception):
    """A statement's `SqlGuard` did not hold (the caller's credentials are no longer valid)."""


def guard_holds(guard: SqlGuard) -> bool:
    """Whether `guard` holds now, checked on its own (one round trip)."""
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT {guard.sql}", guard.params)
        row = cursor.fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Rider:
    """A read sent in the same round trip as another statement (`ride_along`, `fetchone_with_riders`)."""

    sql: str
    params: Any
    receive: Callable[[list[Any]], None]  # called with its rows, on the same thread and context


_riders: contextvars.ContextVar[tuple[Rider, ...]] = contextvars.ContextVar("statement_riders", default=())


def ride_along(rider: Rider) -> None:
    """Send `rider` with the next `fetchone_with_riders` statement of this context.

    For a read a request will need after a statement it makes anyway: one round trip instead of
    two. A rider is dropped (never received) when the statements fail or that statement cannot
    carry it; its owner then reads for itself.
    """
    _riders.set((*_riders.get(), rider))


class ReadAhead(Generic[K, R]):
    """A read its owner sends with the next `fetchone_with_riders` statement (`ride_along`) and
    takes later in the same context, once.

    `send(key, ...)` labels the read with what it is for; `take()` hands back (key, result) and
    forgets it, or None when nothing was received (no such statement came, or the pipeline
    failed). The owner checks the key against what it needs, and reads for itself otherwise.
    """

    def __init__(self, name: str, result: Callable[[list[Any]], R]) -> None:
        self._slot: contextvars.ContextVar[tuple[K, R] | None] = contextvars.ContextVar(name, default=None)
        self._result = result

    def send(self, key: K, sql: str, params: Any) -> None:
        def receive(rows: list[Any]) -> None:
            self._slot.set((key, self._result(rows)))

        self._slot.set(None)
        ride_along(Rider(sql, params, receive))

    def get(self) -> tuple[K, R] | None:
        """What was received and not taken yet in this context (None: nothing)."""
        return self._slot.get()

    def take(self) -> tuple[K, R] | None:
        received = self._slot.get()
        if received is not None:
            self._slot.set(None)
        return received


def fetchone_with_riders(sql: str, params: Any) -> Any:
    """`sql`'s first row (a `prepared_cursor` statement), with this context's riders in the same round trip.

    On PostgreSQL with prepared statements on, outside a transaction, the statement and the
    riders (`ride_along`) go out together in psycopg's pipeline mode and come back after one
    Sync (they share its implicit transaction, which ends there); each rider then receives its
    rows. Elsewhere, or when the pipeline fails, the statement runs alone and the riders are
    dropped.
    """
    import psycopg

    riders = _riders.get()
    _riders.set(())
    db = connections[DEFAULT_DB_ALIAS]
    if (
        riders
        and db.vendor == "postgresql"
        and settings.DATABASE_PREPARED_STATEMENTS
        and not db.in_atomic_block  # a rider's error would abort the caller's transaction
    ):
        cursors: list[Any] = []
        try:
            with prepared_cursor() as cursor:
                with db.connection.pipeline():
                    cursor.execute(sql, params)
                    for rider in riders:
                        cursors.append(prepared_cursor())
                        cursors[-1].execute(rider.sql, rider.params)
                row = cursor.fetchone()
                results = [riding.fetchall() for riding in cursors]
        except (DatabaseError, psycopg.Error):  # the pipeline's own errors are psycopg's
            logger.warning("statements sent together failed; running the first alone", exc_info=True)
        else:
            for rider, rows in zip(riders, results, strict=True):
                rider.receive(rows)
            return row
        finally:
            for riding in cursors:
                riding.close()
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# A statement run through `prepared_cursor` is prepared on its connection the second time.
_PREPARE_THRESHOLD = 1  # executions before the one that prepares


def prepared_cursor() -> Any:
    """A cursor of the default connection whose statements PostgreSQL plans once per connection.

    Django binds parameters on the client (psycopg's `ClientCursor`), so PostgreSQL parses and
    plans every statement anew: for the hot read statements that costs about as much as running
    them, or more (0.3-4 ms of planning against 0.1-7.5 ms of execution). This cursor binds on the server, and
    psycopg prepares a statement the second time a connection runs it (`DATABASE_PREPARED_STATEMENTS`
    off, or another database: Django's plain cursor). It is Django's cursor wrapper around it, so
    queries are counted and logged as any other. Use it for fixed statements whose parameters are
    all values; `%(name)s` placeholders keep their meaning.
    """
    # The connection itself, looked up once: each use of the `connection` proxy looks it up again
    # (a thread-local lookup, ~1.5 us); a cursor took ten of them.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        return db.cursor()
    import psycopg

    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        raw = db.connection
        if raw.prepare_threshold is None:  # Django turns psycopg's preparing off; only these cursors use it
            raw.prepare_threshold = _PREPARE_THRESHOLD
        cursor: Any = psycopg.Cursor(raw)  # the stubs want a wrapper here; Django wraps the driver's cursor
    db.validate_thread_sharing()
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


def quoted_column(model: type[Model], name: str) -> str:
    """The quoted column of `model`'s concrete field `name`, for hand-written SQL (default connection)."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column  # a concrete column
    return connection.ops.quote_name(field.column)


def selected_columns(model: type[Model], alias: str) -> str:
    """`model`'s concrete columns as `alias.column, ...`, in field order (for `model_from_row`)."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(str(field.column))}" for field in model._meta.concrete_fields)


def model_from_row(model: type[M], values: tuple[Any, ...] | list[Any]) -> tuple[M | None, tuple[Any, ...]]:
    """An instance of `model` from its concrete columns at the start of `values` (`selected_columns`),
    as the ORM loads one (the fields' database converters applied); None for a LEFT JOIN that
    matched nothing. Returns the values that follow.

    For fixed statements on hot paths: a queryset compiles its query on every use, and a raw
    queryset works out its columns and converters on every use, each ~0.1 ms of CPU.
    """
    fields = model._meta.concrete_fields
    row, rest = list(values[: len(fields)]), tuple(values[len(fields) :])
    if row[fields.index(model._meta.pk)] is None:
        return None, rest
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the `connection` proxy's lookup per use
    for index, converters in _converters(model, db.vendor):
        for converter in converters:
            row[index] = converter(row[index], fields[index], db)
    return model.from_db(db.alias, [field.attname for field in fields], row), rest


@functools.cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[int, tuple[Any, ...]], ...]:
    """The database converters of `model`'s concrete fields, by position (most fields have none).

    `vendor` only keys the cache: the converters are the default connection's, which differ
    between PostgreSQL and SQLite.
    """
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        converters = (
            *connection.ops.get_db_converters(field.get_col(model._meta.db_table)),
            *field.get_db_converters(connection),
        )
        if converters:
            found.append((index, converters))
    return tuple(found)


# --- Rows written as one JSON parameter per table (PostgreSQL) ---------------------------------------


def json_insert(model: type[Model], objects: list[Any], *, guard: str | None = None) -> tuple[str, list[Any]]:
    """An INSERT of `objects` (every concrete field, as the ORM would prepare it) and its one parameter.

    For statements that write several tables at once (data-modifying CTEs) on PostgreSQL. The
    rows go as one JSON array that PostgreSQL reads into the table's row type
    (`json_populate_recordset`, each value through its column's type): a statement has a handful
    of parameters instead of one per column, its text depends only on the model (so it is
    prepared once per connection, `prepared_cursor`, however many rows it writes), and psycopg
    converts it once (it re-parses statements of more than 50 parameters on every execution).
    With `guard` (a CTE name), the rows are inserted only if that CTE returned a row.

    Each value is what the field's own `pre_save` and `get_db_prep_save` give (defaults,
    `auto_now_add`, JSON with the field's encoder), computed by Django's methods except for the
    plain values of fields whose preparation is known to leave them as they are (`_insert_plan`):
    a turn's rows have ~60 columns, and the generic calls cost ~0.17 ms of CPU on the path to the
    model call (~0.08 ms now). Keys to integer primary keys, and every field class not listed
    there, take Django's methods. The model's primary key must be set by the client (a UUID
    default): an auto-incremented one would be written NULL.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: the `connection` proxy looks it up per use
    plan = _insert_plan(model)
    rows = [{column: prepare(obj, db) for column, prepare in plan} for obj in objects]
    return _insert_sql(model, guard), [json.dumps(rows)]


def json_value(value: Any) -> Any:
    """A value prepared for its column (`get_db_prep_save`) as JSON that the column's type reads back."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Json | Jsonb):  # a JSONField's value, with the field's own encoder
        return json.loads((value.dumps or json.dumps)(value.obj))
    raise TypeError(f"no JSON form for a {type(value).__name__} column value")


@functools.cache
def _insert_sql(model: type[Model], guard: str | None) -> str:
    """`json_insert`'s statement text, which depends only on the model and the guard."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in model._meta.concrete_fields)
    table = quote(model._meta.db_table)
    rows = f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json)"  # noqa: S608 - names from the model; values are parameters
    where = "" if guard is None else f" WHERE EXISTS (SELECT FROM {guard})"
    return f"INSERT INTO {table} ({columns}) {rows}{where}"


Prepare = Callable[[Any, Any], Any]  # (instance, connection) -> the column's JSON value

# Field classes whose `pre_save` reads the attribute and whose database preparation, on
# PostgreSQL, leaves a value of the given type as it is (JSON gives it back unchanged). Exact
# classes only: a subclass may prepare its values otherwise. Text takes any `str` (a choices
# enum member is one, and JSON writes its value); numbers their exact type (True is an int,
# which an integer column must not receive as JSON `true`).
_TEXT = (model_fields.CharField, model_fields.TextField)
_EXACT: dict[type[Field], type] = {
    model_fields.BooleanField: bool,
    **dict.fromkeys(
        (
            model_fields.IntegerField,
            model_fields.BigIntegerField,
            model_fields.SmallIntegerField,
            model_fields.PositiveIntegerField,
            model_fields.PositiveBigIntegerField,
            model_fields.PositiveSmallIntegerField,
        ),
        int,
    ),
}
_JSON_NATIVE = (dict, list, str, int, float, bool)


@functools.cache
def _insert_plan(model: type[Model]) -> tuple[tuple[str, Prepare], ...]:
    """`(column, prepare)` for each concrete field of `model`, in field order (`json_insert`)."""
    if isinstance(model._meta.pk, AutoFieldMixin):
        raise TypeError(f"{model.__name__}: json_insert needs a primary key the client sets")
    return tuple((str(field.column), _preparer(field)) for field in model._meta.concrete_fields)


def _preparer(field: Field) -> Prepare:
    name = field.attname

    def generic(obj: Any, db: Any) -> Any:
        return json_value(field.get_db_prep_save(field.pre_save(obj, True), db))

    kind = type(field)
    if kind in _TEXT:

        def text(obj: Any, db: Any) -> Any:
            value = getattr(obj, name)
            return value if value is None or isinstance(value, str) else generic(obj, db)

        return text
    exact = _EXACT.get(kind)
    if exact is not None:

        def plain(obj: Any, db: Any) -> Any:
            value = getattr(obj, name)
            return value if value is None or type(value) is exact else generic(obj, db)

        return plain
    target = type(getattr(field, "target_field", None)) if kind is model_fields.ForeignKey else None
    if kind is model_fields.UUIDField or target is model_fields.UUIDField:

        def uuid_key(obj: Any, db: Any) -> Any:
            value = getattr(obj, name)
            if value is None:
                return None
            return str(value) if type(value) is UUID else generic(obj, db)

        return uuid_key
    stamped = getattr(field, "auto_now", True) or getattr(field, "auto_now_add", True)
    if kind is model_fields.DateTimeField and not stamped:

        def moment(obj: Any, db: Any) -> Any:
            value = getattr(obj, name)
            if value is None:
                return None
            return value.isoformat() if type(value) is datetime and value.tzinfo is not None else generic(obj, db)

        return moment
    if kind is model_fields.JSONField and getattr(field, "encoder", True) is None:

        def document(obj: Any, db: Any) -> Any:
            # The value itself: the row's JSON encodes it as `json.dumps` would have on its own.
            value = getattr(obj, name)
            return value if value is None or type(value) in _JSON_NATIVE else generic(obj, db)

        return document
    return generic
