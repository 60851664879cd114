"""A GIN index on the full-text vector of message text (PostgreSQL only; SQLite searches by substring).

The expression matches what `chat.selectors.chats` searches with, SearchVector("text",
config="english"), so PostgreSQL can find matching messages through the index instead of
computing the vector of every message at query time.
"""

from django.db import migrations

INDEX = "chat_message_fts"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON chat_message "
        "USING gin (to_tsvector('english'::regconfig, COALESCE(text, ''::text)))"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_memory")]

    operations = [migrations.RunPython(create_index, drop_index)]
