"""The database refuses what the validator would have refused, with the validator bypassed.

These tests hand `guarded` raw SQL (the validator never sees it) on the assistant's own alias
(its own connection), and on a connection as the restricted role `adminassistant_role` creates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper

from adminassistant.executor.runner import GuardError, guarded
from adminassistant.services.role import role_apply
from tests.adminassistant.helpers import ALIAS_DB

pytestmark = [ALIAS_DB, pytest.mark.postgres]


def raw(alias: str, *statements: str) -> Any:
    def work() -> Any:
        with connections[alias].cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            return cursor.fetchall() if cursor.description else None

    return work


def test_a_write_fails_with_the_read_only_error():
    with pytest.raises(GuardError) as caught:
        guarded(raw("adminassistant", "UPDATE appauth_appuser SET first_name = 'x'"))
    assert caught.value.code == "read_only_violation"
    assert "cannot execute UPDATE in a read-only transaction" in caught.value.message


def test_read_write_cannot_be_restored_inside_the_run():
    with pytest.raises(GuardError) as caught:
        guarded(raw("adminassistant", "SET transaction_read_only = off", "DELETE FROM auth_group"))
    assert caught.value.code == "read_only_violation"


def test_the_statement_timeout_cancels_a_long_query():
    started = time.monotonic()
    with pytest.raises(GuardError) as caught:
        guarded(raw("adminassistant", "SELECT pg_sleep(5)"), timeout_ms=200)
    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 3


def test_the_watchdog_cancels_a_query_that_lifted_the_timeout():
    started = time.monotonic()
    with pytest.raises(GuardError) as caught:
        guarded(raw("adminassistant", "SET LOCAL statement_timeout = 0", "SELECT pg_sleep(10)"), timeout_ms=200)
    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 5  # the watchdog fires at timeout + 1 s


def test_every_run_gets_a_fresh_session_and_leaves_no_connection_open():
    with pytest.raises(GuardError):
        guarded(raw("adminassistant", "SELECT pg_advisory_lock(42)", "SELECT 1/0"))
    assert connections["adminassistant"].connection is None
    assert guarded(raw("adminassistant", "SELECT 41 + 1")) == [(42,)]
    assert connections["adminassistant"].connection is None
    with connections["default"].cursor() as cursor:  # the session lock went with its session
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert cursor.fetchone() == (0,)


@pytest.fixture
def restricted_alias() -> Iterator[str]:
    """A connection to the test database as a freshly created restricted role."""
    role = f"aa_test_ro_{os.getpid()}"
    role_apply(role=role)
    settings_dict = {**connections["default"].settings_dict, "USER": role, "PASSWORD": ""}
    wrapper = DatabaseWrapper(settings_dict, alias="restricted")  # a dynamic connection, not in DATABASES
    connections["restricted"] = wrapper
    try:
        yield "restricted"
    finally:
        wrapper.close()
        del connections["restricted"]
        with connections["default"].cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_role_reads_allowed_columns(restricted_alias):
    assert guarded(raw(restricted_alias, "SELECT count(username) FROM appauth_appuser"), alias=restricted_alias)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT password FROM appauth_appuser",
        "SELECT count(*) FROM appauth_appuser WHERE password LIKE 'pbkdf2%'",  # a filter oracle
        "SELECT username FROM appauth_appuser ORDER BY password",  # an ordering oracle
        "SELECT * FROM appauth_appuser",
        "SELECT session_data FROM django_session",
        "SELECT digest FROM appauth_authtoken",
        "SELECT api_key_encrypted FROM adminassistant_assistantsettings",
        "SELECT question FROM adminassistant_querylog",
    ],
)
def test_the_role_cannot_read_denied_columns_or_tables(restricted_alias, statement):
    with pytest.raises(GuardError) as caught:
        guarded(raw(restricted_alias, statement), alias=restricted_alias)
    assert caught.value.code == "database_permission_denied"


def test_the_role_cannot_write_even_after_committing_the_guard(restricted_alias):
    with pytest.raises(GuardError) as caught:
        guarded(
            raw(restricted_alias, "COMMIT", "SET default_transaction_read_only = off", "DELETE FROM auth_group"),
            alias=restricted_alias,
        )
    assert caught.value.code in ("database_permission_denied", "read_only_violation")
    with connections["default"].cursor() as cursor:
        role = connections[restricted_alias].settings_dict["USER"]
        cursor.execute("SELECT has_table_privilege(%s, 'auth_group', 'DELETE')", [role])
        assert cursor.fetchone() == (False,)
