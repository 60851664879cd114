"""Celery tasks of the admin assistant (thin: ids in, a service call, idempotent)."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from adminassistant.services.chats import chat_title_generate
from backend.llm.errors import LLMError

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def title_chat(chat_id: str) -> str | None:
    """Give a chat a short title after its first answer (no-op once titled)."""
    try:
        return chat_title_generate(chat_id=UUID(chat_id))
    except LLMError:
        logger.warning("adminassistant: titling chat %s failed", chat_id, exc_info=True)
        return None
