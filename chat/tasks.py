"""Celery tasks of the chat app: thin wrappers that call a service.

Reliability (settings CELERY_*): acks late, rejected back to the queue when the worker process
dies, redelivered by Redis after the visibility timeout. So every task here is idempotent: a
redelivered copy changes nothing twice. Model calls retry on throttling/unavailability with
exponential backoff and jitter (after the LLM layer's own fallback through the chain).
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.conf import settings

from backend.llm.errors import LLMError
from backend.tasks import dispatch
from chat.models import Chat
from chat.services import memory, titles
from chat.services.attachments import attachments_purge_unclaimed
from chat.services.knowledge_index import knowledge_index

logger = logging.getLogger(__name__)


def _retry_or_drop(task: Task, error: LLMError, what: str) -> None:
    """Retry a failed model call later (retryable, under the limit), else log and drop it."""
    retries = task.request.retries
    if error.retryable and retries < settings.CHAT_TASK_MAX_RETRIES:
        base = settings.CHAT_TASK_RETRY_BACKOFF_SECONDS * 2**retries
        countdown = min(base, settings.CHAT_TASK_RETRY_BACKOFF_MAX_SECONDS) * random.uniform(0.5, 1.0)
        logger.info("%s: %s, retry %d in %.0fs", what, error.code, retries + 1, countdown)
        raise task.retry(countdown=countdown, max_retries=settings.CHAT_TASK_MAX_RETRIES)
    logger.warning("%s dropped after %d retries: %r", what, retries, error)


_LLM_TASK: dict[str, Any] = {"bind": True, "ignore_result": True, "soft_time_limit": 300, "time_limit": 330}


@shared_task(**_LLM_TASK)
def generate_chat_title(self: Task, chat_id: str) -> str | None:
    """Title a chat after its first complete answer (only while it has the default title)."""
    try:
        return titles.chat_title_generate(chat_id=UUID(chat_id))
    except LLMError as error:
        _retry_or_drop(self, error, f"title of chat {chat_id}")
        return None


@shared_task(**_LLM_TASK)
def extract_turn_memories(self: Task, message_id: str) -> int:
    """Extract memories from the turn answered by `message_id`; returns how many were created."""
    try:
        result = memory.memory_extract_turn(message_id=UUID(message_id))
    except LLMError as error:
        _retry_or_drop(self, error, f"memory extraction for message {message_id}")
        return 0
    return len(result.created) if result else 0


@shared_task(bind=True, ignore_result=True)
def answer_follow_ups(self: Task, chat_id: str, message_id: str) -> None:
    """The title and memory extraction of a complete answer in an untitled chat, sent as one message.

    Each is handed to its own task on the queue this message came from, so each keeps its own
    retries; a redelivered copy hands them over again, which changes nothing twice (both tasks
    are idempotent). Web processes now send follow-ups through `backend.tasks.run_batch`; this
    task stays so that messages an earlier release left in a queue still run.
    """
    queue = (self.request.delivery_info or {}).get("routing_key") or settings.CHAT_BACKGROUND_QUEUE
    dispatch(generate_chat_title, args=(chat_id,), queue=queue)
    dispatch(extract_turn_memories, args=(message_id,), queue=queue)


@shared_task(**_LLM_TASK)
def extract_chat_memories(self: Task, chat_id: str) -> int:
    """The manual "extract from this chat"; returns how many memories were created."""
    chat = Chat.objects.filter(id=chat_id).first()
    if chat is None:
        return 0
    try:
        result = memory.memory_extract_chat(chat=chat)
    except LLMError as error:
        _retry_or_drop(self, error, f"memory extraction for chat {chat_id}")
        return 0
    return len(result.created) if result else 0


@shared_task(ignore_result=True)
def purge_memory_extractions() -> int:
    """Forget old per-turn extraction claims (kept only to make redeliveries no-ops)."""
    return memory.memory_extractions_purge(older_than_days=settings.CHAT_MEMORY_EXTRACTION_RETENTION_DAYS)


@shared_task(ignore_result=True)
def purge_unclaimed_attachments() -> int:
    """Delete uploads never attached to a message (and their files)."""
    return attachments_purge_unclaimed(older_than=timedelta(hours=settings.CHAT_ATTACHMENT_TTL_HOURS))


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def index_knowledge(knowledge_id: str) -> None:
    """(Re-)index a project knowledge item for retrieval; unchanged text is a no-op, so redelivery is safe."""
    knowledge_index(knowledge_id=UUID(knowledge_id))
