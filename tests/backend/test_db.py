"""`backend.db.prepared_cursor`: hot statements planned once per connection, still counted as queries."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.db import (
    ReadAhead,
    Rider,
    ahead_result,
    db_executor,
    db_submit,
    fetchone_with_riders,
    prepared_cursor,
    ride_along,
)

pytestmark = pytest.mark.django_db

STATEMENT = "SELECT %(value)s::int + 1 AS prepared_cursor_probe"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")


def _prepared_here() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%prepared_cursor_probe%"]
        )
        return cursor.fetchone()[0]


def _run(value: int) -> int:
    with prepared_cursor() as cursor:
        cursor.execute(STATEMENT, {"value": value})
        return cursor.fetchone()[0]


def test_a_statement_run_twice_is_prepared_on_the_connection_and_answers_the_same():
    assert _prepared_here() == 0
    assert _run(1) == 2
    assert _run(2) == 3
    assert _prepared_here() == 1
    assert [_run(value) for value in range(3, 6)] == [4, 5, 6]
    assert _prepared_here() == 1  # one plan, whatever the values


def test_its_queries_are_counted_and_logged_as_any_other():
    with CaptureQueriesContext(connection) as queries:
        _run(7)
    assert len(queries) == 1 and "prepared_cursor_probe" in queries[0]["sql"]


def test_django_queries_are_never_prepared():
    _run(1)  # turns psycopg's preparing on for this connection
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 AS prepared_cursor_probe_django")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%_django"])
        assert cursor.fetchone()[0] == 0


def test_turned_off_it_is_django_cursor(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    for value in range(3):
        assert _run(value) == value + 1
    assert _prepared_here() == 0


# --- db_call: the light hop to the database threads -------------------------------------------------


def test_db_call_runs_on_a_database_thread_in_a_copy_of_the_callers_context():
    import asyncio
    import contextvars
    import threading

    from backend.db import db_call

    seen = contextvars.ContextVar("seen", default="unset")

    def work(value: int) -> tuple[str, str, int]:
        outer = seen.get()
        seen.set("changed inside")
        return threading.current_thread().name, outer, value * 2

    async def main() -> tuple[tuple[str, str, int], str]:
        seen.set("caller's")
        result = await db_call(work, 21)
        return result, seen.get()

    (thread, outer, doubled), after = asyncio.run(main())
    assert thread.startswith("db") and outer == "caller's" and doubled == 42
    assert after == "caller's"  # the change made inside stays there


def test_db_call_drops_a_broken_connection_of_its_thread(monkeypatch):
    import asyncio

    from django.db import OperationalError

    from backend import db

    closed = []
    monkeypatch.setattr(
        db.connections, "all", lambda **kwargs: [type("C", (), {"close": lambda self: closed.append(1)})()]
    )

    def broken() -> None:
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        asyncio.run(db.db_call(broken))
    assert closed == [1]


# --- reads ahead -----------------------------------------------------------------------------------


def test_a_read_ahead_is_collected_or_made_by_the_caller():
    done: Future[str] = Future()
    done.set_result("ahead")
    assert ahead_result(done, lambda: "here") == "ahead"

    queued: Future[str] = Future()  # not started: never waited for
    assert ahead_result(queued, lambda: "here") == "here"
    assert queued.cancelled()

    failed: Future[str] = Future()
    failed.set_exception(RuntimeError("the connection broke"))
    assert ahead_result(failed, lambda: "here") == "here"


def test_callers_on_every_database_thread_never_wait_for_reads_queued_behind_them():
    """Every database thread busy, each waiting for the read it started: none may wait forever."""
    threads = db_executor()._max_workers
    everyone_busy = threading.Barrier(threads)
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="")

    def caller(number: int) -> str:
        everyone_busy.wait(timeout=10)
        marker.set(f"caller {number}")
        read = db_submit(lambda: marker.get() and "ahead")  # in a copy of the caller's context
        return ahead_result(read, lambda: "here")

    results = [future.result(timeout=20) for future in [db_executor().submit(caller, n) for n in range(threads)]]
    assert set(results) <= {"ahead", "here"} and len(results) == threads


# --- statements sent together ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # riders ride only outside a transaction
def test_riders_go_in_the_same_round_trip_and_receive_their_rows(monkeypatch):
    received: list[list] = []
    pipelines = []
    connection.ensure_connection()
    real = type(connection.connection).pipeline

    def pipeline(self):
        pipelines.append(self)
        return real(self)

    monkeypatch.setattr(type(connection.connection), "pipeline", pipeline)
    ride_along(Rider("SELECT %s::int * 2 AS rider_probe", [21], received.append))
    ride_along(Rider("SELECT generate_series(1, %s) AS rider_probe", [2], received.append))

    assert fetchone_with_riders(STATEMENT, {"value": 1}) == (2,)
    assert received == [[(42,)], [(1,), (2,)]]
    assert len(pipelines) == 1
    assert fetchone_with_riders(STATEMENT, {"value": 2}) == (3,)  # riders are sent once
    assert len(received) == 2 and len(pipelines) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_rider_is_dropped_and_the_statement_answers_alone(caplog):
    received: list[list] = []
    ride_along(Rider("SELECT 1 / %s::int AS rider_probe", [0], received.append))  # division by zero

    assert fetchone_with_riders(STATEMENT, {"value": 4}) == (5,)
    assert received == []
    assert "statements sent together failed" in caplog.text
    with connection.cursor() as cursor:  # the connection is usable afterwards
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_in_a_transaction_riders_are_dropped_and_the_statement_answers_alone():
    received: list[list] = []
    ride_along(Rider("SELECT 1 AS rider_probe", [], received.append))

    assert fetchone_with_riders(STATEMENT, {"value": 6}) == (7,)  # `django_db`: inside a transaction
    assert received == []


@pytest.mark.django_db(transaction=True)
def test_a_read_ahead_is_taken_once_with_its_key_and_not_at_all_when_its_statement_failed():
    ahead: ReadAhead[str, int] = ReadAhead("probe_read_ahead", lambda rows: rows[0][0])
    assert ahead.take() is None  # nothing sent

    ahead.send("doubled", "SELECT %s::int * 2 AS rider_probe", [21])
    assert ahead.get() is None  # sent, not received before its statement
    fetchone_with_riders(STATEMENT, {"value": 1})
    assert ahead.take() == ("doubled", 42)
    assert ahead.take() is None

    ahead.send("failing", "SELECT 1 / %s::int AS rider_probe", [0])  # division by zero
    assert fetchone_with_riders(STATEMENT, {"value": 2}) == (3,)
    assert ahead.take() is None
