"""Create or update the restricted PostgreSQL role of the assistant's database alias.

    manage.py adminassistant_role assistant_ro                 # print the SQL
    manage.py adminassistant_role assistant_ro --apply --password-env AA_DB_PASSWORD

Run again after migrations that add models or columns (grants are per column). Then set
ADMIN_ASSISTANT_DATABASE_URL=postgres://assistant_ro:<password>@host/db.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from adminassistant.services.role import role_apply, role_sql


class Command(BaseCommand):
    help = "Create or update the read-only, column-restricted PostgreSQL role of the admin assistant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role")
        parser.add_argument("--database", default="default", help="The alias to run the statements on.")
        parser.add_argument("--password-env", default="", help="An environment variable holding the password.")
        parser.add_argument("--apply", action="store_true", help="Run the statements (else print them).")

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        if connections[database].vendor != "postgresql":
            raise CommandError("The restricted role is a PostgreSQL feature; SQLite is opened read-only instead.")
        password = os.environ.get(options["password_env"], "") if options["password_env"] else None
        try:
            if options["apply"]:
                count = role_apply(role=options["role"], database=database, password=password)
                self.stdout.write(f"Applied {count} statements for role {options['role']}.")
                return
            for statement, params in role_sql(role=options["role"], database=database, password=password):
                self.stdout.write(statement.replace("%s", "'<password>'") if params else statement + ";")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
