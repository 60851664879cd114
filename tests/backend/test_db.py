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
