"""The embedded SQLite default lets concurrent writers wait for each other instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Two threads, each a transaction that reads and then writes (as get_or_create does): in
# SQLite's deferred mode the second to write fails at once with "database is locked".
SCRIPT = textwrap.dedent(
    """
    import threading, time
    import django
    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    print(settings.DATABASES["default"]["OPTIONS"])
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe (value integer)")
    connection.close()
    errors, started = [], threading.Barrier(2)

    def writer(value):
        try:
            started.wait()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM probe")
                time.sleep(0.3)
                cursor.execute("INSERT INTO probe VALUES (%s)", [value])
        except Exception as error:
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(value,)) for value in (1, 2)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM probe")
        print("rows", cursor.fetchone()[0], "errors", errors)
    """
)


def test_two_transactions_that_read_then_write_both_commit(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'transaction_mode': 'IMMEDIATE'" in result.stdout
    assert "rows 2 errors []" in result.stdout, result.stdout
