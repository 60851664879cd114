"""Chat titles, written by the `fast` model in the background, never on the request path.

After the first complete answer of a chat that still has the default title, a Celery task
(enqueued on commit) asks for a short title in the chat's language. The title is stored with a
conditional UPDATE (`title_source == default`), so a title the user set meanwhile is never
overwritten and a redelivered task changes nothing twice. Clients see the new title through
the chat list (`updated_at` moves). `chat_title_regenerate` is the user's explicit request.
"""

from __future__ import annotations

import logging
import re
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from backend.errors import Conflict
from backend.llm import service as llm
from backend.llm.types import CallContext, LLMRequest, TextBlock
from backend.llm.types import Message as LLMMessage
from chat import prompts
from chat.errors import ErrorCode
from chat.models import Chat, Message
from chat.selectors.tree import active_branch_ids
from chat.services.usage import usage_add

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 80
# How much of the conversation the model sees: the first turns, each side cut to this many characters.
TITLE_TURNS = 2
QUESTION_CHARS = 2000
ANSWER_CHARS = 1000

_PREFIX = re.compile(r"^(title|titre|titel|título|titolo)\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb*#"


def title_wanted(*, chat: Chat) -> bool:
    """Whether a complete answer in `chat` should title it: only while it has the default title."""
    return chat.title_source == Chat.TitleSource.DEFAULT


def title_clean(text: str) -> str:
    """The model's reply as a title: first line, no quotes or label, at most MAX_TITLE_CHARS."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _PREFIX.sub("", line).strip(_QUOTES + " ").rstrip(".!?:;,").strip(_QUOTES + " ")
    line = re.sub(r"\s+", " ", line)
    if len(line) > MAX_TITLE_CHARS:
        line = line[:MAX_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:-") or line[:MAX_TITLE_CHARS]
    return line


def _conversation(chat: Chat) -> str | None:
    """The first complete turns of the active branch as text, or None before any complete answer."""
    pair_ids = active_branch_ids(chat=chat)[:TITLE_TURNS]
    messages = Message.objects.filter(pair_id__in=pair_ids).only("pair_id", "role", "status", "text")
    by_pair: dict[UUID, dict[str, Message]] = {}
    for message in messages:
        by_pair.setdefault(message.pair_id, {})[message.role] = message
    lines: list[str] = []
    for pair_id in pair_ids:
        turn = by_pair.get(pair_id, {})
        question, answer = turn.get(Message.Role.USER), turn.get(Message.Role.ASSISTANT)
        if question is None or answer is None or answer.status != Message.Status.COMPLETE or not answer.text:
            continue
        lines.append(f"User: {question.text[:QUESTION_CHARS]}")
        lines.append(f"Assistant: {answer.text[:ANSWER_CHARS]}")
    return "\n\n".join(lines) or None


def _ask(chat: Chat, conversation: str) -> str:
    """One call to the title model. Raises LLMError."""
    request = LLMRequest(
        messages=(LLMMessage.user(f"<conversation>\n{conversation}\n</conversation>"),),
        alias=settings.CHAT_TITLE_MODEL_ALIAS,
        system=(TextBlock(prompts.load("title")),),
        max_tokens=40,
        temperature=0.2,
        context=CallContext(purpose="title", user_id=chat.user_id, reference=f"chat.chat:{chat.id}"),
    )
    completion = llm.complete(request)
    usage_add(chat=chat, purpose="title", model_id=completion.model_id, usage=completion.usage, cost=completion.cost)
    return title_clean(completion.text)


def chat_title_generate(*, chat_id: UUID) -> str | None:
    """Title a chat that still has the default title (the background task's work).

    Returns the stored title, or None when there was nothing to do: the chat is gone, already
    titled (by the user or an earlier run), has no complete answer yet, or the model's reply
    was empty. Raises LLMError when the model call failed (the task decides about retrying).
    """
    chat = Chat.objects.filter(id=chat_id).first()
    if chat is None or chat.title_source != Chat.TitleSource.DEFAULT:
        return None
    conversation = _conversation(chat)
    if conversation is None:
        return None
    title = _ask(chat, conversation)
    if not title:
        logger.warning("title model returned nothing usable for chat %s", chat.id)
        return None
    updated = Chat.objects.filter(id=chat.id, title_source=Chat.TitleSource.DEFAULT).update(
        title=title, title_source=Chat.TitleSource.GENERATED, updated_at=timezone.now()
    )
    return title if updated else None


def chat_title_regenerate(*, chat: Chat) -> Chat:
    """A new generated title for `chat`, on the user's request (replaces any title, theirs included).

    Raises Conflict (`nothing_to_title`) before the first complete answer, Conflict
    (`title_changed`) when the title changed while the model was asked, LLMError on failure.
    """
    conversation = _conversation(chat)
    if conversation is None:
        raise Conflict("The chat has no complete answer to name it after yet.", code=ErrorCode.NOTHING_TO_TITLE)
    title = _ask(chat, conversation)
    if not title:
        raise Conflict("The model did not suggest a title. Try again.", code=ErrorCode.NO_TITLE_SUGGESTED)
    # Only if nobody renamed the chat while the model was thinking.
    updated = Chat.objects.filter(id=chat.id, title=chat.title, title_source=chat.title_source).update(
        title=title, title_source=Chat.TitleSource.GENERATED, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict("The chat was renamed meanwhile.", code=ErrorCode.TITLE_CHANGED)
    chat.refresh_from_db()
    return chat
