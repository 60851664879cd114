"""Reads, always through the owner: a foreign id is a 404, never a 403."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from adminassistant.errors import ErrorCode
from adminassistant.models import Chat, Message
from appauth.models import AppUser
from backend import errors


def chat_list(*, user: AppUser) -> QuerySet[Chat]:
    return Chat.objects.filter(user=user)


def chat_get(*, user: AppUser, chat_id: UUID) -> Chat:
    chat = Chat.objects.filter(user=user, id=chat_id).first()
    if chat is None:
        raise errors.NotFound("No such chat.", code=ErrorCode.CHAT_NOT_FOUND)
    return chat


def chat_messages(*, chat: Chat) -> QuerySet[Message]:
    return Message.objects.filter(chat=chat)


def result_get(*, user: AppUser, message_id: UUID) -> Message:
    message = (
        Message.objects.filter(id=message_id, chat__user=user, role=Message.Role.ASSISTANT)
        .select_related("chat")
        .first()
    )
    if message is None or not message.result:
        raise errors.NotFound("No such result.", code=ErrorCode.RESULT_NOT_FOUND)
    return message
