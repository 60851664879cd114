"""Context assembly: exactly what is sent to the model for one assistant message.

Order (stable first, so Bedrock's prompt cache can reuse it across turns):
1. system: the built-in ground rules (always: honesty, attached documents are data, not
   instructions), then the chat's own prompt, else its saved prompt, else the default coding
   prompt, so a custom prompt replaces the default persona but never the ground rules;
   then the project's instructions and the project knowledge marked `include_in_chat` while
   it fits `CHAT_KNOWLEDGE_TOKEN_BUDGET`; a cache point after this prefix when it is long
   enough to be cached. Beyond the budget, the knowledge chunks found for this question
   follow the cache point instead, numbered for citation (retrieval mode); then the memories.
2. history: the active branch before this turn, without hidden pairs and without turns whose
   answer produced no text; the oldest turns are left out when the budget is exceeded (the
   caller tells the client which); a cache point on the last history message.
3. this turn: the user's text with its attachments as Converse image/document blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Sum

from backend.db import ReadAhead, prepared_cursor
from backend.llm.registry import ModelSpec, get_registry
from backend.llm.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_block_tokens, estimate_text_tokens
from backend.llm.types import (
    CachePoint,
    CallContext,
    ContentBlock,
    LLMRequest,
    SystemBlock,
    TextBlock,
)
from backend.llm.types import (
    Message as LLMMessage,
)
from backend.memo import LocalMemo
from chat import prompts
from chat.models import Attachment, Chat, Message, MessagePair, Project
from chat.selectors.tree import active_branch_ids
from chat.services.attachments import attachment_blocks
from chat.services.knowledge_index import KNOWLEDGE_SOURCE, project_collection
from chat.services.memory import memory_context_block
from retrieval.selectors import chunk_search

# Room kept free for the answer and for estimation error, beyond the model's max output.
SAFETY_MARGIN_TOKENS = 1024


@dataclass(frozen=True)
class BuiltContext:
    request: LLMRequest
    omitted_pair_ids: list[UUID]
    input_token_estimate: int
    knowledge_mode: str = Message.KnowledgeMode.NONE
    citations: list[dict[str, Any]] = field(default_factory=list)
    # The memories in the system prompt: marked referenced by the build, or by the caller that
    # asked it not to (`mark_memories=False`: the answer marks them with its terminal state).
    memory_ids: list[UUID] = field(default_factory=list)
    # The shared cache's copy of the history entry this build made, when the caller asked to
    # write it later (`share_history_later=True`: the answer writes it with its terminal state).
    history_shares: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class KnowledgeContext:
    """How a project's knowledge enters the context: whole, or as the excerpts found for a question."""

    mode: str
    included_tokens: int
    budget_tokens: int
    excerpts: list[dict[str, Any]]

    @property
    def block(self) -> str | None:
        if not self.excerpts:
            return None
        parts = [
            "<project_knowledge_excerpts>",
            "The project's knowledge is too large to send whole; these excerpts were found for the question. "
            "When you use one, cite it by its number in square brackets, e.g. [1].",
        ]
        for excerpt in self.excerpts:
            section = f' section="{excerpt["heading"]}"' if excerpt["heading"] else ""
            parts.append(
                f'<excerpt n="{excerpt["index"]}" title="{excerpt["title"]}"{section}>\n{excerpt["text"]}\n</excerpt>'
            )
        parts.append("</project_knowledge_excerpts>")
        return "\n".join(parts)


def knowledge_context(*, project: Project, question: str) -> KnowledgeContext:
    """Whole while the included knowledge fits the budget, else the top chunks for `question`."""
    budget = int(settings.CHAT_KNOWLEDGE_TOKEN_BUDGET)
    included = project.knowledge.filter(include_in_chat=True)
    totals = included.aggregate(items=Count("id"), tokens=Sum("token_count"))
    tokens = int(totals["tokens"] or 0)
    if not totals["items"]:
        return KnowledgeContext(Message.KnowledgeMode.NONE, 0, budget, [])
    if tokens <= budget:
        return KnowledgeContext(Message.KnowledgeMode.WHOLE, tokens, budget, [])
    top_k = int(settings.RETRIEVAL_CHAT_TOP_K)
    included_ids = {str(pk) for pk in included.values_list("id", flat=True)}
    hits = chunk_search(
        collection=project_collection(project.id), owner_id=project.user_id, query=question, k=top_k * 3
    )
    chosen = [hit for hit in hits if hit.source == KNOWLEDGE_SOURCE and hit.ref in included_ids][:top_k]
    excerpts = [
        {
            "index": index,
            "chunk_id": hit.chunk_id,
            "knowledge_id": hit.ref,
            "title": hit.title,
            "heading": hit.heading,
            "text": hit.text,
            "score": hit.score,
        }
        for index, hit in enumerate(chosen, start=1)
    ]
    return KnowledgeContext(Message.KnowledgeMode.RETRIEVAL, tokens, budget, excerpts)


def system_prompt_text(chat: Chat) -> str:
    """The persona part of the system prompt: what a user's own or saved prompt replaces."""
    if chat.system_prompt.strip():
        return chat.system_prompt.strip()
    if chat.saved_prompt is not None and chat.saved_prompt.content.strip():
        return chat.saved_prompt.content.strip()
    return prompts.load("coding")


def knowledge_context_preview(*, chat: Chat, question: str | None = None) -> KnowledgeContext | None:
    """What the next answer of `chat` would get of its project's knowledge (None outside a project).

    `question` defaults to the chat's newest question.
    """
    if chat.project is None:
        return None
    if question is None:
        newest = Message.objects.filter(pair__chat=chat, role=Message.Role.USER).order_by("-created_at").first()
        question = newest.text if newest else ""
    return knowledge_context(project=chat.project, question=question)


def _system_blocks(
    chat: Chat, model: ModelSpec, question: str, *, mark_memories: bool = True
) -> tuple[list[SystemBlock], KnowledgeContext | None, list[UUID]]:
    parts = [prompts.load("guidance"), system_prompt_text(chat)]
    project = chat.project
    knowledge = None
    if project is not None:
        if project.instructions.strip():
            instructions = project.instructions.strip()
            parts.append(f'<project_instructions project="{project.name}">\n{instructions}\n</project_instructions>')
        knowledge = knowledge_context(project=project, question=question)
        if knowledge.mode == Message.KnowledgeMode.WHOLE:
            for item in project.knowledge.filter(include_in_chat=True).order_by("created_at"):
                parts.append(f'<project_document title="{item.title}">\n{item.content}\n</project_document>')
    blocks: list[SystemBlock] = [TextBlock("\n\n".join(parts))]
    if sum(estimate_text_tokens(part) for part in parts) >= model.min_cache_tokens:
        blocks.append(CachePoint())
    # After the cache point: excerpts and memories are chosen for this question.
    if knowledge is not None and (excerpts := knowledge.block) is not None:
        blocks.append(TextBlock(excerpts))
    # After the cache point: the memories chosen for this question change more often than the rest.
    memory_ids: list[UUID] = []
    if (memory := memory_context_block(chat=chat, query=question, mark_referenced=mark_memories)) is not None:
        blocks.append(TextBlock(memory.text))
        memory_ids = [remembered.id for remembered in memory.memories]
    return blocks, knowledge, memory_ids


@dataclass
class _AttachmentQuota:
    """Per-request attachment limits of the model; newer turns claim them first."""

    images: int
    documents: int

    def admit(self, attachment: Attachment) -> bool:
        if attachment.kind == Attachment.Kind.IMAGE:
            if self.images <= 0:
                return False
            self.images -= 1
            return True
        if self.documents <= 0:
            return False
        self.documents -= 1
        return True


def _turn(text: str, attachments: Sequence[Attachment], quota: _AttachmentQuota) -> LLMMessage:
    admitted = [attachment for attachment in attachments if quota.admit(attachment)]
    content: list[ContentBlock] = []
    if admitted:
        content.extend(attachment_blocks(attachments=admitted))
    left_out = [attachment.name for attachment in attachments if attachment not in admitted]
    if left_out:
        text += "\n\n[Earlier attachments not resent (request limit): " + ", ".join(left_out) + "]"
    content.append(TextBlock(text))
    return LLMMessage(role="user", content=tuple(content))


def context_build(
    *,
    assistant_message: Message,
    pair: MessagePair | None = None,
    user_message: Message | None = None,
    mark_memories: bool = True,
    share_history_later: bool = False,
) -> BuiltContext:
    """The request for `assistant_message` (status `streaming`), within its model's budget.

    `pair` (with its chat) and `user_message` may be passed when the caller has them loaded,
    as message acceptance does, to save the queries. With `mark_memories=False` the memories
    used are not marked referenced here: the caller marks `memory_ids` later (the answer does
    it with its terminal write, off the path to the first token). With
    `share_history_later=True` the history entry this build made is written to the shared
    cache by the callables of `history_shares`, which the caller runs later (the answer does it
    with its terminal write too); this process's copy is kept at once.
    """
    if pair is None:
        pair = MessagePair.objects.select_related("chat__project", "chat__saved_prompt").get(
            id=assistant_message.pair_id
        )
    chat = pair.chat
    registry = get_registry()
    chain = registry.chain(assistant_message.model_alias)
    # Budget for the smallest context window of the chain: any fallback model must fit it too.
    model = min(chain, key=lambda spec: spec.context_window - spec.max_output_tokens)
    current_user = user_message or pair.messages.get(role=Message.Role.USER)
    system, knowledge, memory_ids = _system_blocks(chat, model, current_user.text, mark_memories=mark_memories)

    history_shares: list[Callable[[], None]] = []
    history = history_turns(pair=pair, shares=history_shares if share_history_later else None)
    quota = _AttachmentQuota(images=model.max_images, documents=model.max_documents)
    current_turn = _turn(current_user.text, list(current_user.attachments.all()), quota)

    budget = model.context_window - model.max_output_tokens - SAFETY_MARGIN_TOKENS
    used = sum(estimate_block_tokens(block) for block in system)
    used += MESSAGE_OVERHEAD_TOKENS + sum(estimate_block_tokens(block) for block in current_turn.content)

    kept: list[tuple[LLMMessage, LLMMessage]] = []
    omitted: list[UUID] = []
    for past_id, question, attachments, answer in reversed(history):  # newest first: the oldest are left out
        user_turn: LLMMessage | None = None
        if attachments:
            built_turn = _turn(question, attachments, quota)
            user_turn, asked = built_turn, sum(estimate_block_tokens(b) for b in built_turn.content)
        else:  # the usual turn, its text alone: built only if kept
            asked = estimate_text_tokens(question)
        cost = 2 * MESSAGE_OVERHEAD_TOKENS + asked + estimate_text_tokens(answer)
        if omitted or used + cost > budget:
            omitted.append(UUID(past_id))
            continue
        used += cost
        if user_turn is None:
            user_turn = LLMMessage(role="user", content=(TextBlock(question),))
        kept.append((user_turn, LLMMessage.assistant(answer)))
    kept.reverse()
    omitted.reverse()

    messages: list[LLMMessage] = [turn for turns in kept for turn in turns]
    if messages and used >= model.min_cache_tokens:
        # Cache the whole history: the next turn extends it, so the prefix is read back at a tenth of the price.
        last = messages[-1]
        messages[-1] = LLMMessage(role=last.role, content=(*last.content, CachePoint()))
    messages.append(current_turn)
    request = LLMRequest(
        messages=tuple(messages),
        system=tuple(system),
        alias=assistant_message.model_alias,
        context=CallContext(purpose="chat", user_id=chat.user_id, reference=f"chat.message:{assistant_message.id}"),
    )
    return BuiltContext(
        request=request,
        omitted_pair_ids=omitted,
        input_token_estimate=used,
        knowledge_mode=knowledge.mode if knowledge else Message.KnowledgeMode.NONE,
        citations=knowledge.excerpts if knowledge else [],
        memory_ids=memory_ids,
        history_shares=history_shares,
    )


# --- the history before a turn ---------------------------------------------------------------------


# A turn of the history as the model sees it, visible, with an answer that has text:
# (pair id as text, question, the question's attachments, answer).
#
# A plain tuple of strings (and, rarely, attachments): the cached history of a long chat is
# pickled and unpickled on every follow-up, which tuples do ~4 times faster than dataclass
# instances holding `UUID` objects (0.24 against 0.9 ms for 230 turns, measured in process). And
# a process keeps thousands of them in `_history_memo`: the garbage collector stops tracking an
# exact tuple of strings the first time it sees it, while a named tuple stays tracked and every
# full collection walks it again (a tail of the follow-up's time to first token, docs/benchmarks.md).
HistoryTurn = tuple[str, str, tuple[Attachment, ...], str]


def history_turns(*, pair: MessagePair, shares: list[Callable[[], None]] | None = None) -> list[HistoryTurn]:
    """The turns above `pair`, root first, without hidden turns and turns whose answer has no text.

    On PostgreSQL this is cached per (chat, `history_edit_version`, last turn) for
    `CHAT_HISTORY_CACHE_SECONDS`. A follow-up extends the previous turn's entry by one turn, so
    a long chat is not walked again; any change to a turn already in the history (hide, delete,
    an edited message or file) raises the edit version and the next build walks it once more.
    An entry holding an unfinished answer is not stored: its later final write raises nothing.

    A new entry goes into this process's copy at once, and the entry it extended leaves it: the
    next follow-up extends the new one, so the old one would only take the room of other chats'
    entries (it stays in the shared cache). The shared cache's copy is written at once, or, when
    `shares` is given, by the callable appended to it: pickling a long history and sending it
    need not delay the first token, since the next turn, which reads it, usually follows this
    turn's answer (and a process that misses the entry walks the history instead).
    """
    if pair.parent_id is None:  # the first turn of a chat has no history
        return []
    if int(settings.CHAT_HISTORY_CACHE_SECONDS) <= 0 or connection.vendor != "postgresql":
        return _history_orm(pair)
    row = _last_turn_read_ahead(pair)
    if row is None:
        with prepared_cursor() as cursor:
            cursor.execute(_LAST_TURN, [pair.parent_id, pair.chat_id])
            row = cursor.fetchone()
    if row is None:  # the parent went away meanwhile: nothing to extend
        return _history_orm(pair)
    version, grandparent_id, hidden, question, answer, answer_status, has_attachments = row
    own_key = _history_key(pair.chat_id, version, pair.parent_id)
    base_key = _history_key(pair.chat_id, version, grandparent_id) if grandparent_id is not None else None
    own = _history_memo.get(own_key)
    if own is not None:
        return list(own)
    memo_base = _history_memo.get(base_key) if base_key else None
    found = {} if memo_base is not None else cache.get_many([own_key] + ([base_key] if base_key else []))
    if own_key in found:
        _history_memo.put(own_key, found[own_key])
        return list(found[own_key])
    if base_key is None:
        base: list[HistoryTurn] | None = []
    elif memo_base is not None:
        base = list(memo_base)
    else:
        base = list(found[base_key]) if base_key in found else None
    if base is None:
        turns, finished = _history_walk(chat_id=pair.chat_id, last_id=pair.parent_id)
    else:
        turns, finished = base, answer_status != Message.Status.STREAMING
        if not hidden and question is not None and answer and answer.strip():
            attachments = _attachments_of([pair.parent_id]).get(pair.parent_id, ()) if has_attachments else ()
            turns = [*base, (str(pair.parent_id), question, attachments, answer)]
    if finished:
        entry = tuple(turns)
        _history_memo.put(own_key, entry)
        if base_key is not None:
            _history_memo.discard(base_key)
        share = functools.partial(cache.set, own_key, entry, timeout=int(settings.CHAT_HISTORY_CACHE_SECONDS))
        if shares is None:
            share()
        else:
            shares.append(share)
    return turns


def _turns_size(turns: tuple[HistoryTurn, ...]) -> int:
    return sum(len(question) + len(answer) + 100 for _, question, _, answer in turns)


# The history entries this process read or wrote last (a key holds the chat's edit version and
# last turn, so an entry is exact): a follow-up served by the same process reads its base here,
# without the shared cache's round trip and unpickling.
_history_memo: LocalMemo[tuple[HistoryTurn, ...]] = LocalMemo(16 * 1024 * 1024, size=_turns_size)


def _history_key(chat_id: UUID, version: int, last_id: UUID) -> str:
    # "v3": entries are tuples of plain `HistoryTurn` tuples (entries of earlier forms are never read).
    return f"chat:context:v3:{chat_id}:{version}:{last_id}"


_PAIR = MessagePair._meta.db_table
_MESSAGE = Message._meta.db_table
_ATTACHMENT = Attachment._meta.db_table

# The chat's edit version and one turn (its parent, whether hidden, its texts), in one statement.
_LAST_TURN = f"""
SELECT c.history_edit_version, p.parent_id, p.hidden, u.text, a.text, a.status,
       EXISTS (SELECT 1 FROM {_ATTACHMENT} f WHERE f.message_id = u.id)
  FROM {Chat._meta.db_table} c
  JOIN {_PAIR} p ON p.chat_id = c.id AND p.id = %s
  LEFT JOIN {_MESSAGE} u ON u.pair_id = p.id AND u.role = 'user'
  LEFT JOIN {_MESSAGE} a ON a.pair_id = p.id AND a.role = 'assistant'
 WHERE c.id = %s
"""  # noqa: S608 - table names only; values are parameters

# The turn `last` and every turn above it, root first, as plain rows.
_WALK = f"""
WITH RECURSIVE walk AS (
  SELECT p.id, p.parent_id, p.hidden, 0 AS up FROM {_PAIR} p WHERE p.id = %s AND p.chat_id = %s
  UNION ALL
  SELECT p.id, p.parent_id, p.hidden, w.up + 1 FROM walk w JOIN {_PAIR} p ON p.id = w.parent_id
)
SELECT w.id, w.hidden, u.id, u.text, a.text, a.status,
       EXISTS (SELECT 1 FROM {_ATTACHMENT} f WHERE f.message_id = u.id)
  FROM walk w
  LEFT JOIN {_MESSAGE} u ON u.pair_id = w.id AND u.role = 'user'
  LEFT JOIN {_MESSAGE} a ON a.pair_id = w.id AND a.role = 'assistant'
 ORDER BY w.up DESC
"""  # noqa: S608 - table names only; values are parameters


# `_LAST_TURN` for the turn that is the chat's active leaf, by the chat and its owner, with the
# turn's id first: what a follow-up continuing the branch reads, before it knows the leaf.
_LEAF_TURN = f"""
SELECT p.id, c.history_edit_version, p.parent_id, p.hidden, u.text, a.text, a.status,
       EXISTS (SELECT 1 FROM {_ATTACHMENT} f WHERE f.message_id = u.id)
  FROM {Chat._meta.db_table} c
  JOIN {_PAIR} p ON p.chat_id = c.id AND p.id = c.active_leaf_id
  LEFT JOIN {_MESSAGE} u ON u.pair_id = p.id AND u.role = 'user'
  LEFT JOIN {_MESSAGE} a ON a.pair_id = p.id AND a.role = 'assistant'
 WHERE c.id = %s AND c.user_id = %s
"""  # noqa: S608 - table names only; values are parameters

# A follow-up's last turn read ahead in this context (`history_ahead`), keyed by the chat's id.
_last_turn_ahead: ReadAhead[UUID, tuple[Any, ...] | None] = ReadAhead(
    "last_turn_read_ahead", lambda rows: tuple(rows[0]) if rows else None
)


def history_ahead(*, chat_id: UUID, user_id: Any) -> None:
    """Read the last turn of the user's chat `chat_id` (its active leaf) with the admission's
    running-answers count (`backend.db.ride_along`).

    Call it on the database thread, in the admission's context: the next `history_turns` there
    takes the row if its turn continues that leaf (the leaf of the chat row it read in the same
    round trip), instead of reading it. The row is read a moment earlier, which changes nothing:
    the turn's write is guarded by the leaf it saw either way.
    """
    _last_turn_ahead.send(chat_id, _LEAF_TURN, [chat_id, user_id])


def _last_turn_read_ahead(pair: MessagePair) -> tuple[Any, ...] | None:
    """`_LAST_TURN`'s row for `pair`'s parent, when `history_ahead` read it in this context (taken once)."""
    ahead = _last_turn_ahead.take()
    if ahead is None:
        return None
    chat_id, row = ahead
    if row is None or chat_id != pair.chat_id or row[0] != pair.parent_id:
        return None
    return row[1:]


def _history_walk(*, chat_id: UUID, last_id: UUID) -> tuple[list[HistoryTurn], bool]:
    """(the visible turns from the root to `last_id`, whether every answer among them is finished)."""
    with prepared_cursor() as cursor:
        cursor.execute(_WALK, [last_id, chat_id])
        rows = cursor.fetchall()
    finished = all(status != Message.Status.STREAMING for *_, status, _ in rows)
    visible = [row for row in rows if not row[1] and row[3] is not None and row[4] and row[4].strip()]
    attachments = _attachments_of([row[0] for row in visible if row[6]])
    turns = [(str(row[0]), row[3], attachments.get(row[0], ()), row[4]) for row in visible]
    return turns, finished


def _attachments_of(pair_ids: list[UUID]) -> dict[UUID, tuple[Attachment, ...]]:
    """The user message's attachments of each pair, in the order the ORM path reads them."""
    if not pair_ids:
        return {}
    grouped: dict[UUID, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(
        message__pair_id__in=pair_ids, message__role=Message.Role.USER
    ).select_related("message"):
        assert attachment.message is not None  # filtered on its message
        grouped.setdefault(attachment.message.pair_id, []).append(attachment)
    return {pair_id: tuple(items) for pair_id, items in grouped.items()}


def _history_orm(pair: MessagePair) -> list[HistoryTurn]:
    """`history_turns` through the ORM (other databases, or with the cache off)."""
    branch = active_branch_ids(chat=pair.chat)
    history_ids = branch[: branch.index(pair.id)] if pair.id in branch else _ancestors(pair)
    if not history_ids:
        return []
    history_pairs = {
        p.id: p
        for p in MessagePair.objects.filter(id__in=history_ids, hidden=False).prefetch_related("messages__attachments")
    }
    turns: list[HistoryTurn] = []
    for pair_id in history_ids:
        history_pair = history_pairs.get(pair_id)
        if history_pair is None:
            continue  # hidden
        by_role = {message.role: message for message in history_pair.messages.all()}
        question, answer = by_role.get(Message.Role.USER), by_role.get(Message.Role.ASSISTANT)
        if question is None or answer is None or not answer.text.strip():
            continue  # no answer text to show the model (failed before content)
        turns.append((str(pair_id), question.text, tuple(question.attachments.all()), answer.text))
    return turns


def _ancestors(pair: MessagePair) -> list[UUID]:
    """Pair ids above `pair`, root first (for a pair that is not on the active branch)."""
    parents = dict(MessagePair.objects.filter(chat_id=pair.chat_id).values_list("id", "parent_id"))
    path: list[UUID] = []
    current = parents.get(pair.id)
    while current is not None:
        path.append(current)
        current = parents.get(current)
    path.reverse()
    return path
