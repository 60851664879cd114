"""`Chat.history_version` and `Chat.history_edit_version`, raised by triggers.

PostgreSQL only (other databases keep 0 and cache nothing). Row triggers on pairs, messages
and attachments raise `history_version` on every write, and `history_edit_version` on the
writes that change turns already in the history: a pair updated or deleted, a finished message
updated or any message deleted, an attached file changed or removed. New turns, a streaming
answer's checkpoints and its final write, and attaching uploads to a new message leave the
edit version alone. A BEFORE UPDATE trigger on the chat raises `history_version` when the active
leaf moves and keeps both from going back when the ORM saves a chat with stale values.
"""

from django.db import migrations, models

FORWARD = """
CREATE FUNCTION chat_history_bump(chat uuid, edit boolean) RETURNS void LANGUAGE sql AS $$
  UPDATE chat_chat
     SET history_version = history_version + 1,
         history_edit_version = history_edit_version + CASE WHEN edit THEN 1 ELSE 0 END
   WHERE id = chat
$$;

CREATE FUNCTION chat_pair_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM chat_history_bump(COALESCE(NEW.chat_id, OLD.chat_id), TG_OP <> 'INSERT');
  RETURN NULL;
END $$;

CREATE FUNCTION chat_message_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM chat_history_bump(p.chat_id, TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.status <> 'streaming'))
     FROM chat_messagepair p WHERE p.id = COALESCE(NEW.pair_id, OLD.pair_id);
  RETURN NULL;
END $$;

CREATE FUNCTION chat_attachment_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM chat_history_bump(p.chat_id, TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.message_id IS NOT NULL))
     FROM chat_message m JOIN chat_messagepair p ON p.id = m.pair_id
    WHERE m.id = NEW.message_id OR m.id = OLD.message_id;
  RETURN NULL;
END $$;

CREATE FUNCTION chat_history_monotonic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.history_version := GREATEST(NEW.history_version, OLD.history_version);
  NEW.history_edit_version := GREATEST(NEW.history_edit_version, OLD.history_edit_version);
  IF NEW.active_leaf_id IS DISTINCT FROM OLD.active_leaf_id THEN
    NEW.history_version := GREATEST(NEW.history_version, OLD.history_version + 1);
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER chat_pair_history AFTER INSERT OR UPDATE OR DELETE ON chat_messagepair
  FOR EACH ROW EXECUTE FUNCTION chat_pair_history();
CREATE TRIGGER chat_message_history AFTER INSERT OR UPDATE OR DELETE ON chat_message
  FOR EACH ROW EXECUTE FUNCTION chat_message_history();
CREATE TRIGGER chat_attachment_history AFTER INSERT OR UPDATE OR DELETE ON chat_attachment
  FOR EACH ROW EXECUTE FUNCTION chat_attachment_history();
CREATE TRIGGER chat_history_monotonic BEFORE UPDATE ON chat_chat
  FOR EACH ROW EXECUTE FUNCTION chat_history_monotonic();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS chat_pair_history ON chat_messagepair;
DROP TRIGGER IF EXISTS chat_message_history ON chat_message;
DROP TRIGGER IF EXISTS chat_attachment_history ON chat_attachment;
DROP TRIGGER IF EXISTS chat_history_monotonic ON chat_chat;
DROP FUNCTION IF EXISTS chat_pair_history();
DROP FUNCTION IF EXISTS chat_message_history();
DROP FUNCTION IF EXISTS chat_attachment_history();
DROP FUNCTION IF EXISTS chat_history_monotonic();
DROP FUNCTION IF EXISTS chat_history_bump(uuid, boolean);
"""


def _run(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_retrieval_and_tools")]

    operations = [
        migrations.AddField(
            model_name="chat",
            name="history_version",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="chat",
            name="history_edit_version",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
