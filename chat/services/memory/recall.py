"""Memory recall: the most relevant active memories, within a token budget, for the system prompt.

A turn reads its candidates ahead (`recall_ahead`): in the same round trip as its admission's
running-answers count (`backend.db.ride_along`), so that the context built before the model
call takes them instead of reading then. They are read about a millisecond earlier than the
context is built, which is the same as reading them when the turn arrived. A new chat's are
those of the project it is created in; a follow-up's those of its chat's project, which the
statement reads itself (the chat is read in the same round trip).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from backend.db import ReadAhead
from backend.llm.tokens import estimate_text_tokens
from chat.models import Chat, Message, UserMemory
from chat.selectors import memory as selectors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryBlock:
    """The memory part of a system prompt: its text and the memories it names."""

    text: str
    memories: list[UserMemory]
    token_estimate: int


_HEADER = (
    "What you remember about the user from earlier conversations. Use it when it helps the answer; "
    "do not list it unprompted. The user can see, edit and delete these memories."
)


def _line(memory: UserMemory) -> str:
    tags = ", ".join(selectors.tag_names(memory))
    return f"- {memory.summary} [{memory.category}{'; ' + tags if tags else ''}]"


# The candidates read ahead in this context, keyed (user id, scope); the scope is
# ("project", project id or None) for a new chat, ("chat", chat id) for a follow-up.
_ahead: ReadAhead[tuple[Any, tuple[str, UUID | None]], list[UserMemory]] = ReadAhead(
    "memories_read_ahead", selectors.memories_from_rows
)


def recall_ahead(*, user_id: Any, project_id: UUID | None = None, chat_id: UUID | None = None) -> None:
    """Read the candidates a turn of this user will recall with the admission's count.

    For a new chat in `project_id`, or for a follow-up in the user's chat `chat_id`. Call it on
    the database thread, in the context where the chat's context will be built: the candidates
    ride along with the running-answers count (`backend.db.ride_along`), and the next
    `memory_context_block` there takes them if it is for the same user and chat or project.
    """
    if chat_id is not None:
        sql, params = selectors.memories_in_chat_scope_statement(user_id=user_id, chat_id=chat_id, if_enabled=True)
        _ahead.send((user_id, ("chat", chat_id)), sql, params)
    else:
        sql, params = selectors.memories_in_scope_statement(user_id=user_id, project_id=project_id, if_enabled=True)
        _ahead.send((user_id, ("project", project_id)), sql, params)


def _candidates(chat: Chat) -> list[UserMemory]:
    ahead = _ahead.take()  # one context, one read
    if ahead is not None:
        (user_id, scope), memories = ahead
        # ("chat", id): the statement read that chat's project itself, in the same round trip.
        if user_id == chat.user_id and scope in (("project", chat.project_id), ("chat", chat.id)):
            return memories
    return selectors.memories_in_scope(user_id=chat.user_id, project_id=chat.project_id, if_enabled=True)


def memory_context_block(*, chat: Chat, query: str | None = None, mark_referenced: bool = True) -> MemoryBlock | None:
    """The most relevant active memories for `chat` within CHAT_MEMORY_CONTEXT_TOKENS, rendered.

    `query` defaults to the chat's newest user message. None for incognito chats, with memory
    off, or when nothing is remembered. The memories used are marked referenced unless
    `mark_referenced` is False (the preview).
    """
    if chat.incognito:
        return None
    candidates = _candidates(chat)
    if not candidates:
        return None
    if query is None:
        newest = Message.objects.filter(pair__chat=chat, role=Message.Role.USER).order_by("-created_at").first()
        query = newest.text if newest else chat.title
    budget = settings.CHAT_MEMORY_CONTEXT_TOKENS - estimate_text_tokens(_HEADER) - 10
    chosen: list[UserMemory] = []
    lines: list[str] = []
    for memory in selectors.memories_rank(memories=candidates, query=query):
        line = _line(memory)
        cost = estimate_text_tokens(line) + 1
        if cost > budget:
            continue
        budget -= cost
        chosen.append(memory)
        lines.append(line)
    if not chosen:
        return None
    text = "<user_memory>\n" + _HEADER + "\n" + "\n".join(lines) + "\n</user_memory>"
    if mark_referenced:
        memories_mark_referenced(memory_ids=[memory.id for memory in chosen])
    return MemoryBlock(text=text, memories=chosen, token_estimate=estimate_text_tokens(text))


def memories_mark_referenced(*, memory_ids: list[UUID]) -> None:
    """Count one more use of these memories in a context (an answer's, once it has ended)."""
    if memory_ids:
        UserMemory.objects.filter(id__in=memory_ids).update(
            times_referenced=F("times_referenced") + 1, last_referenced_at=timezone.now()
        )
