"""Chats, questions (admission of a streamed answer), the query log and chat titles."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from adminassistant import manifest as manifest_module
from adminassistant.errors import ErrorCode
from adminassistant.models import Chat, Message, QueryLog
from adminassistant.services import config as config_service
from adminassistant.services.prompts import Turn
from appauth.models import AppUser
from backend import errors, ratelimit
from backend.llm import service as llm
from backend.llm.types import CallContext, LLMRequest, TextBlock
from backend.llm.types import Message as LLMMessage
from backend.streaming.engine import Engine
from backend.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

TITLE_MAX = 60


def chat_create(*, user: AppUser, title: str = "") -> Chat:
    return Chat.objects.create(user=user, title=title.strip()[:200], titled=bool(title.strip()))


@dataclass
class Question:
    """An accepted question: what its run needs (see `services.generation`)."""

    chat: Chat
    user_message: Message
    answer: Message
    user_id: Any
    question: str
    manifest: manifest_module.Manifest
    config: config_service.Config
    history: list[Turn] = field(default_factory=list)

    @property
    def start_fields(self) -> dict[str, Any]:
        return {
            "chat_id": str(self.chat.id),
            "user_message_id": str(self.user_message.id),
            "assistant_message_id": str(self.answer.id),
        }


def question_rate_check(*, user: AppUser) -> None:
    decision = ratelimit.hit("adminassistant_question", str(user.pk), settings.ADMIN_ASSISTANT_QUESTION_RATE)
    if not decision.allowed:
        raise errors.RateLimited(
            "Too many questions. Wait a moment.", code=ErrorCode.TOO_MANY_QUESTIONS, retry_after=decision.retry_after
        )


def _history(chat: Chat) -> list[Turn]:
    turns: list[Turn] = []
    messages = list(chat.messages.order_by("-created_at")[: settings.ADMIN_ASSISTANT_HISTORY_TURNS * 2])
    messages.reverse()
    pending: str | None = None
    for message in messages:
        if message.role == Message.Role.USER:
            pending = message.content
        elif pending is not None and message.status == Message.Status.COMPLETE:
            turns.append(Turn(question=pending, explanation=message.content, code=message.code))
            pending = None
    return turns


def question_accept(*, user: AppUser, chat: Chat, question: str) -> Question:
    """Write the question and its answer (status `streaming`) in the engine's admission transaction."""
    question = question.strip()
    if not question:
        raise errors.ValidationFailed("Ask a question.")
    if len(question) > settings.ADMIN_ASSISTANT_MAX_QUESTION_CHARS:
        raise errors.ValidationFailed(
            f"A question is at most {settings.ADMIN_ASSISTANT_MAX_QUESTION_CHARS} characters.",
            code=ErrorCode.QUESTION_TOO_LONG,
        )
    history = _history(chat)
    user_message = Message.objects.create(chat=chat, role=Message.Role.USER, content=question)
    answer = Message.objects.create(chat=chat, role=Message.Role.ASSISTANT, content="", **Engine.new_record_fields())
    Chat.objects.filter(id=chat.id).update(updated_at=timezone.now())
    return Question(
        chat=chat,
        user_message=user_message,
        answer=answer,
        user_id=user.pk,
        question=question,
        manifest=manifest_module.for_user(user),
        config=config_service.config_current(),
        history=history,
    )


@dataclass
class LogEntry:
    """What the query log needs beyond the answer's own record."""

    question: str
    code: str = ""
    attempts: int = 0
    duration_ms: int = 0
    row_count: int = 0
    truncated: bool = False
    result_kind: str = ""
    error_code: str = ""
    error_message: str = ""
    refusal_rule: str = ""


def query_log_write(*, answer: Message, user_id: Any, entry: LogEntry | None) -> QueryLog:
    """One row per question, written with the answer's terminal state (after the query rolled back)."""
    if entry is None:  # ended by the sweeper or a stop before anything ran
        question = answer.chat.messages.filter(role=Message.Role.USER, created_at__lte=answer.created_at)
        text = question.order_by("-created_at").values_list("content", flat=True).first() or ""
        entry = LogEntry(question=text, error_code=answer.error_code or answer.status)
    return QueryLog.objects.create(
        user_id=user_id,
        chat_id=answer.chat_id,
        message=answer,
        question=entry.question,
        code=entry.code,
        attempts=entry.attempts,
        duration_ms=entry.duration_ms,
        row_count=entry.row_count,
        truncated=entry.truncated,
        result_kind=entry.result_kind,
        error_code=entry.error_code,
        error_message=entry.error_message[:500],
        refusal_rule=entry.refusal_rule,
        model_id=answer.model_id,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cost=answer.cost,
    )


def title_schedule(*, chat_id: UUID) -> None:
    """Inside the transaction that completed a chat's first answer: title it once that commits."""

    enqueue_on_commit("adminassistant.tasks.title_chat", args=(str(chat_id),))


def _clean_title(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().strip("\"'“”.")
    return text[:TITLE_MAX].rstrip()


def chat_title_generate(*, chat_id: UUID) -> str | None:
    """A short title from the chat's first question (the fast model); idempotent."""
    chat = Chat.objects.filter(id=chat_id, titled=False).first()
    if chat is None:
        return None
    first = chat.messages.filter(role=Message.Role.USER).order_by("created_at").first()
    if first is None:
        return None
    completion = llm.complete(
        LLMRequest(
            messages=(LLMMessage.user(first.content),),
            alias=settings.ADMIN_ASSISTANT_TITLE_ALIAS,
            system=(
                TextBlock(
                    "Give a short title (at most six words) for this data question asked in an admin. "
                    "Reply with the title only."
                ),
            ),
            max_tokens=30,
            temperature=0.2,
            context=CallContext(purpose="title", user_id=chat.user_id, reference=f"adminassistant.chat:{chat.id}"),
        )
    )
    title = _clean_title(completion.text) or _clean_title(first.content)
    Chat.objects.filter(id=chat.id, titled=False).update(title=title, titled=True)
    return title
