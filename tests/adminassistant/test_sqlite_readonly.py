"""On the embedded SQLite default the assistant's alias opens the database file read-only."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import django, json
    django.setup()
    from django.conf import settings
    from django.db import connections
    from adminassistant.executor.runner import GuardError, guarded

    def write(sql):
        def work():
            with connections["adminassistant"].cursor() as cursor:
                cursor.execute(sql)
        return work

    out = {"name": settings.DATABASES["adminassistant"]["NAME"]}
    for key, sql in [("insert", "INSERT INTO things (name) VALUES ('x')"), ("create", "CREATE TABLE t2 (a int)")]:
        try:
            guarded(write(sql))
            out[key] = "written"
        except GuardError as error:
            out[key] = error.code
    try:  # even outside the guard the connection cannot write
        with connections["adminassistant"].cursor() as cursor:
            cursor.execute("DELETE FROM things")
        out["outside"] = "written"
    except Exception as error:
        out["outside"] = type(error).__name__
    with connections["adminassistant"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM things")
        out["rows"] = cursor.fetchone()[0]
    print(json.dumps(out))
    """
)


def test_the_sqlite_alias_refuses_every_write(tmp_path):
    database = tmp_path / "db.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE things (name text)")
        connection.execute("INSERT INTO things (name) VALUES ('kept')")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
        "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["name"].startswith("file:") and out["name"].endswith("?mode=ro")
    assert (out["insert"], out["create"]) == ("read_only_violation", "read_only_violation")
    assert out["outside"] == "OperationalError"
    assert out["rows"] == 1
