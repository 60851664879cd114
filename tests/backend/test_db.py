"""`backend.db.prepared_cursor`: hot statements planned once per connection, still counted as queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.db import prepared_cursor

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
