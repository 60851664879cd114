"""Full-text search of chunks, per database.

PostgreSQL: a generated `tsvector` column (english configuration, the heading weighted above
the text) with a GIN index. SQLite: an external-content FTS5 table kept in step by triggers.
Other databases get neither: search there is by meaning only.
"""

from django.db import migrations

POSTGRES = [
    """
    ALTER TABLE retrieval_chunk ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(heading, '')), 'A') || to_tsvector('english', text)
    ) STORED
    """,
    "CREATE INDEX retrieval_chunk_search ON retrieval_chunk USING gin (search_vector)",
]
POSTGRES_REVERSE = [
    "DROP INDEX IF EXISTS retrieval_chunk_search",
    "ALTER TABLE retrieval_chunk DROP COLUMN IF EXISTS search_vector",
]
SQLITE = [
    """
    CREATE VIRTUAL TABLE retrieval_chunk_fts USING fts5(
        heading, text, content='retrieval_chunk', content_rowid='id', tokenize='porter unicode61'
    )
    """,
    """
    CREATE TRIGGER retrieval_chunk_fts_insert AFTER INSERT ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END
    """,
    """
    CREATE TRIGGER retrieval_chunk_fts_delete AFTER DELETE ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    END
    """,
    """
    CREATE TRIGGER retrieval_chunk_fts_update AFTER UPDATE ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
        INSERT INTO retrieval_chunk_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_update",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_insert",
    "DROP TABLE IF EXISTS retrieval_chunk_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
