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

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Sum

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


def _system_blocks(chat: Chat, model: ModelSpec, question: str) -> tuple[list[SystemBlock], KnowledgeContext | None]:
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
    if (memory := memory_context_block(chat=chat)) is not None:
        blocks.append(TextBlock(memory.text))
    return blocks, knowledge


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


def _turn(message: Message, attachments: list[Attachment], quota: _AttachmentQuota) -> LLMMessage:
    admitted = [attachment for attachment in attachments if quota.admit(attachment)]
    content: list[ContentBlock] = []
    if admitted:
        content.extend(attachment_blocks(attachments=admitted))
    left_out = [attachment.name for attachment in attachments if attachment not in admitted]
    text = message.text
    if left_out:
        text += "\n\n[Earlier attachments not resent (request limit): " + ", ".join(left_out) + "]"
    content.append(TextBlock(text))
    return LLMMessage(role="user", content=tuple(content))


def context_build(
    *, assistant_message: Message, pair: MessagePair | None = None, user_message: Message | None = None
) -> BuiltContext:
    """The request for `assistant_message` (status `streaming`), within its model's budget.

    `pair` (with its chat) and `user_message` may be passed when the caller has them loaded,
    as message acceptance does, to save the queries.
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
    system, knowledge = _system_blocks(chat, model, current_user.text)

    history_ids: list[UUID] = []
    if pair.parent_id is not None:  # the first turn of a chat has no history to look up
        branch = active_branch_ids(chat=chat)
        history_ids = branch[: branch.index(pair.id)] if pair.id in branch else _ancestors(pair)
    history_pairs = (
        {
            p.id: p
            for p in MessagePair.objects.filter(id__in=history_ids, hidden=False).prefetch_related(
                "messages__attachments"
            )
        }
        if history_ids
        else {}
    )
    quota = _AttachmentQuota(images=model.max_images, documents=model.max_documents)
    current_turn = _turn(current_user, list(current_user.attachments.all()), quota)

    budget = model.context_window - model.max_output_tokens - SAFETY_MARGIN_TOKENS
    used = sum(estimate_block_tokens(block) for block in system)
    used += MESSAGE_OVERHEAD_TOKENS + sum(estimate_block_tokens(block) for block in current_turn.content)

    kept: list[tuple[LLMMessage, LLMMessage]] = []
    omitted: list[UUID] = []
    for pair_id in reversed(history_ids):  # newest first: the oldest turns are the ones left out
        history_pair = history_pairs.get(pair_id)
        if history_pair is None:
            continue  # hidden
        by_role = {message.role: message for message in history_pair.messages.all()}
        question, answer = by_role.get(Message.Role.USER), by_role.get(Message.Role.ASSISTANT)
        if question is None or answer is None or not answer.text.strip():
            continue  # no answer text to show the model (failed before content)
        user_turn = _turn(question, list(question.attachments.all()), quota)
        assistant_turn = LLMMessage.assistant(answer.text)
        cost = 2 * MESSAGE_OVERHEAD_TOKENS + sum(estimate_block_tokens(b) for b in user_turn.content)
        cost += estimate_text_tokens(answer.text)
        if omitted or used + cost > budget:
            omitted.append(pair_id)
            continue
        used += cost
        kept.append((user_turn, assistant_turn))
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
    )


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
