"""Memory extraction: the model's facts about the user, validated, merged and applied once per turn."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.errors import Conflict
from backend.llm import service as llm
from backend.llm.types import CallContext, Completion, LLMRequest, TextBlock, ToolSpec
from backend.llm.types import Message as LLMMessage
from backend.tasks import enqueue_on_commit
from chat import prompts
from chat.errors import ErrorCode
from chat.models import Chat, MemoryExtraction, MemorySettings, Message, MessagePair, UserMemory
from chat.selectors import memory as selectors
from chat.selectors.tree import active_branch_ids
from chat.services.memory.management import tags_attach
from chat.services.usage import usage_add

logger = logging.getLogger(__name__)


TOOL_NAME = "record_memories"
MAX_FACTS = 20
MAX_TAGS = 5
# Two summaries sharing this share of their content words state the same fact.
DUPLICATE_SIMILARITY = 0.6
KNOWN_MEMORIES_SHOWN = 30
CONVERSATION_CHARS = 12_000
CATEGORIES = [choice.value for choice in UserMemory.Category]

MEMORY_TOOL = ToolSpec(
    name=TOOL_NAME,
    description="Record durable facts about the user worth remembering in later conversations.",
    input_schema={
        "type": "object",
        "properties": {
            "memories": {
                "type": "array",
                "maxItems": MAX_FACTS,
                "items": {
                    "type": "object",
                    "properties": {
                        "summary": {"type": "string", "maxLength": 300},
                        "content": {"type": "string"},
                        "category": {"type": "string", "enum": CATEGORIES},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAGS},
                        "supersedes": {"type": "string", "description": "id of a known memory this replaces"},
                    },
                    "required": ["summary", "category", "confidence"],
                },
            }
        },
        "required": ["memories"],
    },
)


class InvalidExtraction(Exception):
    """The model's tool input does not match MEMORY_TOOL's schema."""


@dataclass(frozen=True)
class Fact:
    summary: str
    content: str
    category: str
    confidence: float
    tags: tuple[str, ...] = ()
    supersedes: UUID | None = None


@dataclass
class ExtractionResult:
    outcome: str
    created: list[UUID] = field(default_factory=list)
    updated: list[UUID] = field(default_factory=list)
    superseded: list[UUID] = field(default_factory=list)


# --- validation of the model's output ------------------------------------------------------------


def _fact(item: Any) -> Fact:
    if not isinstance(item, dict):
        raise InvalidExtraction("a memory is not an object")
    summary, content = item.get("summary"), item.get("content", "")
    category, confidence, tags = item.get("category"), item.get("confidence"), item.get("tags", [])
    supersedes = item.get("supersedes")
    if not isinstance(summary, str) or not summary.strip() or len(summary.strip()) > 300:
        raise InvalidExtraction("summary must be a non-empty string of at most 300 characters")
    if not isinstance(content, str):
        raise InvalidExtraction("content must be a string")
    if category not in CATEGORIES:
        raise InvalidExtraction(f"category must be one of {CATEGORIES}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise InvalidExtraction("confidence must be a number from 0 to 1")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidExtraction("tags must be a list of strings")
    superseded_id = None
    if supersedes not in (None, ""):
        try:
            superseded_id = UUID(str(supersedes))
        except ValueError:
            raise InvalidExtraction("supersedes must be a memory id") from None
    clean_tags = tuple(dict.fromkeys(tag.strip().lower()[:50] for tag in tags if tag.strip()))[:MAX_TAGS]
    return Fact(summary.strip(), content.strip()[:2000], category, float(confidence), clean_tags, superseded_id)


def facts_parse(tool_input: Any) -> list[Fact]:
    """Validate `record_memories` input against MEMORY_TOOL's schema. Raises InvalidExtraction."""
    if not isinstance(tool_input, dict) or not isinstance(tool_input.get("memories"), list):
        raise InvalidExtraction("the input must be an object with a `memories` list")
    if len(tool_input["memories"]) > MAX_FACTS:
        raise InvalidExtraction(f"at most {MAX_FACTS} memories")
    return [_fact(item) for item in tool_input["memories"]]


def _facts_from(completion: Completion) -> list[Fact]:
    calls = [call for call in completion.tool_uses if call.name == TOOL_NAME]
    if not calls:
        raise InvalidExtraction(f"the model did not call {TOOL_NAME}")
    return facts_parse(calls[0].input)


# --- extraction ----------------------------------------------------------------------------------


def memory_wanted(*, chat: Chat) -> bool:
    """Whether a complete answer in `chat` is worth an extraction task (never in an incognito chat).

    The user's memory switch is checked by the caller when it knows it, and by the task.
    """
    return not chat.incognito


def memory_extract_turn(*, message_id: UUID) -> ExtractionResult | None:
    """Extract memories from the turn answered by `message_id` (the background task's work).

    None when there is nothing to do: the message is not a complete answer, the chat is
    incognito, memory is off, or the turn was already processed. Raises LLMError.
    """
    answer = Message.objects.select_related("pair__chat").filter(id=message_id, role=Message.Role.ASSISTANT).first()
    if answer is None or answer.status != Message.Status.COMPLETE:
        return None
    pair, chat = answer.pair, answer.pair.chat
    if chat.incognito or not selectors.memory_enabled(user_id=chat.user_id):
        return None
    if MemoryExtraction.objects.filter(pair=pair).exists():
        return None  # a redelivered task: the turn was already processed
    question = pair.messages.filter(role=Message.Role.USER).first()
    # The user's words carry the facts; the answer is context, so it is cut first.
    asked = question.text[: CONVERSATION_CHARS * 2 // 3] if question else ""
    conversation = f"User: {asked}\n\nAssistant: {answer.text[: CONVERSATION_CHARS // 3]}"
    return _extract(chat=chat, pair=pair, conversation=conversation)


def memory_extract_chat(*, chat: Chat) -> ExtractionResult | None:
    """Extract memories from a whole chat (the manual trigger): its active branch, newest turns first to fit.

    Re-running it is safe: facts already known are merged, not duplicated. Raises LLMError.
    """
    if chat.incognito or not selectors.memory_enabled(user_id=chat.user_id):
        return None
    pair_ids = active_branch_ids(chat=chat)
    texts: dict[tuple[UUID, str], str] = {
        (message.pair_id, message.role): message.text
        for message in Message.objects.filter(pair_id__in=pair_ids, pair__hidden=False).exclude(text="")
    }
    turns: list[str] = []
    size = 0
    for pair_id in reversed(pair_ids):
        question, answer = texts.get((pair_id, "user")), texts.get((pair_id, "assistant"))
        if question is None or answer is None:
            continue
        turn = f"User: {question}\n\nAssistant: {answer}"
        if size + len(turn) > CONVERSATION_CHARS and turns:
            break
        turns.append(turn[:CONVERSATION_CHARS])
        size += len(turn)
    if not turns:
        return None
    return _extract(chat=chat, pair=None, conversation="\n\n".join(reversed(turns)))


def _extract(*, chat: Chat, pair: MessagePair | None, conversation: str) -> ExtractionResult | None:
    known = selectors.memories_rank(
        memories=selectors.memories_in_scope(user_id=chat.user_id, project_id=chat.project_id), query=conversation
    )[:KNOWN_MEMORIES_SHOWN]
    known_text = "\n".join(f"- id={memory.id}: {memory.summary}" for memory in known) or "(none)"
    request = LLMRequest(
        messages=(
            LLMMessage.user(
                f"<known_memories>\n{known_text}\n</known_memories>\n\n<conversation>\n{conversation}\n</conversation>"
            ),
        ),
        alias=settings.CHAT_MEMORY_MODEL_ALIAS,
        system=(TextBlock(prompts.load("memory_extraction")),),
        max_tokens=2048,
        temperature=0,
        tools=(MEMORY_TOOL,),
        tool_choice=TOOL_NAME,
        context=CallContext(
            purpose="memory", user_id=chat.user_id, reference=f"chat.pair:{pair.id}" if pair else f"chat.chat:{chat.id}"
        ),
    )
    completion = llm.complete(request)
    usage_add(chat=chat, purpose="memory", model_id=completion.model_id, usage=completion.usage, cost=completion.cost)
    try:
        facts = _facts_from(completion)
    except InvalidExtraction as error:
        logger.warning("memory extraction for chat %s dropped: invalid model output (%s)", chat.id, error)
        if pair is not None:
            MemoryExtraction.objects.get_or_create(pair=pair, defaults={"outcome": MemoryExtraction.Outcome.INVALID})
        return ExtractionResult(outcome=MemoryExtraction.Outcome.INVALID)
    return _apply(chat=chat, pair=pair, facts=facts)


def _apply(*, chat: Chat, pair: MessagePair | None, facts: list[Fact]) -> ExtractionResult | None:
    result = ExtractionResult(outcome=MemoryExtraction.Outcome.APPLIED)
    with transaction.atomic():
        # One user's memory writes run one at a time (and see the switch as it is now).
        preference, _ = MemorySettings.objects.select_for_update().get_or_create(user_id=chat.user_id)
        if not preference.enabled:
            return None
        claim = None
        if pair is not None:
            try:
                with transaction.atomic():
                    claim = MemoryExtraction.objects.create(pair=pair, outcome=MemoryExtraction.Outcome.APPLIED)
            except IntegrityError:
                return None  # processed concurrently by a redelivered copy of the task
        visible = {
            memory.id: memory
            for memory in selectors.memories_in_scope(user_id=chat.user_id, project_id=chat.project_id, limit=1000)
        }
        minimum = settings.CHAT_MEMORY_MIN_CONFIDENCE
        for fact in facts:
            if fact.confidence < minimum:
                continue
            replaced = visible.get(fact.supersedes) if fact.supersedes else None
            duplicate = None if replaced else _duplicate_of(fact, visible.values())
            if duplicate is not None:
                _merge(duplicate, fact)
                result.updated.append(duplicate.id)
                continue
            memory = _create(chat=chat, pair=pair, fact=fact)
            visible[memory.id] = memory
            result.created.append(memory.id)
            if replaced is not None:
                UserMemory.objects.filter(id=replaced.id).update(
                    is_active=False, superseded_by=memory, updated_at=timezone.now()
                )
                visible.pop(replaced.id)
                result.superseded.append(replaced.id)
        if claim is not None:
            claim.created, claim.updated, claim.superseded = (
                len(result.created),
                len(result.updated),
                len(result.superseded),
            )
            claim.save(update_fields=["created", "updated", "superseded"])
    return result


def _duplicate_of(fact: Fact, memories: Iterable[UserMemory]) -> UserMemory | None:
    fact_words = selectors.words(fact.summary)
    best, best_similarity = None, 0.0
    for memory in memories:
        memory_words = selectors.words(memory.summary)
        union = fact_words | memory_words
        similarity = len(fact_words & memory_words) / len(union) if union else 0.0
        if similarity > best_similarity:
            best, best_similarity = memory, similarity
    return best if best_similarity >= DUPLICATE_SIMILARITY else None


def _merge(memory: UserMemory, fact: Fact) -> None:
    """Fold a restated fact into the memory: newer wording (unless the user verified it), more confidence."""
    if not memory.is_verified:
        memory.summary = fact.summary
        memory.category = fact.category
    if fact.content:
        memory.raw_content = fact.content
    memory.confidence = max(memory.confidence, fact.confidence)
    memory.save(update_fields=["summary", "category", "raw_content", "confidence", "updated_at"])
    tags_attach(memory, fact.tags)


def _create(*, chat: Chat, pair: MessagePair | None, fact: Fact) -> UserMemory:
    memory = UserMemory.objects.create(
        user_id=chat.user_id,
        project_id=chat.project_id,
        summary=fact.summary,
        raw_content=fact.content,
        category=fact.category,
        confidence=fact.confidence,
        source_chat=chat,
        source_pair=pair,
    )
    tags_attach(memory, fact.tags)
    return memory


def memory_extract_chat_schedule(*, chat: Chat) -> None:
    """The manual "extract from this chat": queued; refused for incognito chats and with memory off."""
    if chat.incognito:
        raise Conflict("Incognito chats are never remembered.", code=ErrorCode.INCOGNITO_CHAT)
    if not selectors.memory_enabled(user_id=chat.user_id):
        raise Conflict("Memory is switched off.", code=ErrorCode.MEMORY_DISABLED)
    enqueue_on_commit("chat.tasks.extract_chat_memories", args=(str(chat.id),), queue=settings.CHAT_BACKGROUND_QUEUE)


def memory_extractions_purge(*, older_than_days: int) -> int:
    """Forget extraction claims older than any redelivery could be (their memories stay)."""
    horizon = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = MemoryExtraction.objects.filter(created_at__lt=horizon).delete()
    return deleted
