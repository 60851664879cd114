"""Memory: facts about the user, extracted in the background and recalled in context.

- `extraction`: after each complete turn (never for incognito chats or users with memory off)
  a Celery task asks the `fast` model to call the `record_memories` tool. Its input is
  validated; invalid output is logged and dropped. New facts are merged into an existing
  memory saying the same thing (an update, not a second row); a fact that contradicts a known
  one (`supersedes`) deactivates it. A `MemoryExtraction` row claims the turn in the same
  transaction as the writes, so a redelivered task changes nothing twice.
- `recall`: `memory_context_block` renders the most relevant active memories within a token
  budget for the system prompt and marks them referenced; `recall_ahead` starts a new chat's
  read of them while its admission makes its own round trips.
- `management`: create/edit/delete/verify, tags, the on/off switch, delete everything.
"""

from chat.services.memory.extraction import (
    MAX_FACTS,
    InvalidExtraction,
    facts_parse,
    memory_extract_chat,
    memory_extract_chat_schedule,
    memory_extract_turn,
    memory_extractions_purge,
    memory_wanted,
)
from chat.services.memory.management import (
    memory_create,
    memory_delete,
    memory_forget_all,
    memory_settings_set,
    memory_update,
    memory_verify,
    tag_create,
    tag_delete,
    tag_rename,
)
from chat.services.memory.recall import memories_mark_referenced, memory_context_block, recall_ahead

__all__ = [
    "MAX_FACTS",
    "InvalidExtraction",
    "facts_parse",
    "memories_mark_referenced",
    "memory_context_block",
    "memory_create",
    "memory_delete",
    "memory_extract_chat",
    "memory_extract_chat_schedule",
    "memory_extract_turn",
    "memory_extractions_purge",
    "memory_forget_all",
    "memory_settings_set",
    "memory_update",
    "memory_verify",
    "memory_wanted",
    "recall_ahead",
    "tag_create",
    "tag_delete",
    "tag_rename",
]
