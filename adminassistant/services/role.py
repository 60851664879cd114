"""The restricted PostgreSQL role the assistant's database alias should connect as.

SELECT only, only on the tables of models the denylist allows, and only on their allowed
columns (column-level grants: a table-level grant would override any column revoke). Denied
columns then fail with "permission denied" (42501) whatever the query, which also defeats
filter and ordering oracles. The role is read-only by default and has a statement timeout,
both defaults a session could change, which is why the executor sets them per transaction too.
"""

from __future__ import annotations

import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections

from adminassistant import denylist
from adminassistant.manifest import full

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _columns(model: Any) -> list[str]:
    columns = []
    for field in model._meta.concrete_fields:
        if denylist.field_denied(model, field.name) or denylist.field_denied(model, field.column):
            continue
        related = field.related_model
        if related is not None and denylist.model_denied(related):
            continue
        columns.append(field.column)
    return columns


def granted_tables() -> dict[str, list[str]]:
    """Table -> the columns the role may read: allowed models and their many-to-many tables."""
    allowed = {info.model for info in full().models.values()}
    tables: dict[str, list[str]] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.auto_created:  # a many-to-many table: both ends must be allowed
            ends = [f.related_model for f in meta.concrete_fields if f.related_model is not None]
            if not all(end in allowed for end in ends):
                continue
        elif model not in allowed:
            continue
        columns = _columns(model)
        if columns:
            tables[meta.db_table] = columns
    return tables


def role_sql(*, role: str, database: str = "default", password: str | None = None) -> list[tuple[str, list[Any]]]:
    """The statements (with parameters) that create or update `role` for the current schema."""
    if not ROLE_NAME.match(role):
        raise ValueError("A role name is lower-case letters, digits and underscores.")
    connection = connections[database]
    quote = connection.ops.quote_name
    name = quote(role)
    db_name = quote(connection.settings_dict["NAME"])
    timeout = int(settings.ADMIN_ASSISTANT_STATEMENT_TIMEOUT_MS)
    statements: list[tuple[str, list[Any]]] = [
        (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role + "') THEN "
            f"CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS; "
            "END IF; END $$",
            [],
        ),
        (f"ALTER ROLE {name} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS", []),
    ]
    if password:
        statements.append((f"ALTER ROLE {name} LOGIN PASSWORD %s", [password]))
    statements += [
        (f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {name}", []),
        (f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {name}", []),
        (f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {name}", []),
        (f"GRANT CONNECT ON DATABASE {db_name} TO {name}", []),
        (f"GRANT USAGE ON SCHEMA public TO {name}", []),
    ]
    for table, columns in sorted(granted_tables().items()):
        column_list = ", ".join(quote(column) for column in columns)
        statements.append((f"GRANT SELECT ({column_list}) ON {quote(table)} TO {name}", []))
    statements += [
        (f"ALTER ROLE {name} SET default_transaction_read_only = on", []),
        (f"ALTER ROLE {name} SET statement_timeout = {timeout:d}", []),
        (f"ALTER ROLE {name} SET idle_in_transaction_session_timeout = {max(timeout * 2, 1000):d}", []),
    ]
    return statements


def role_apply(*, role: str, database: str = "default", password: str | None = None) -> int:
    """Run `role_sql` on `database` (as a user allowed to manage roles); returns the statements run."""
    statements = role_sql(role=role, database=database, password=password)
    with connections[database].cursor() as cursor:
        for statement, params in statements:
            cursor.execute(statement, params or None)
    return len(statements)
