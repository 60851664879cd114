"""Reads of chat attachments, always scoped to their owner."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from appauth.models import AppUser
from backend.errors import NotFound
from chat.errors import ErrorCode
from chat.models import Attachment


def attachment_get(*, user: AppUser, attachment_id: UUID) -> Attachment:
    """`user`'s attachment `attachment_id`. Raises NotFound `attachment_not_found` for any other id."""
    attachment = Attachment.objects.filter(user=user, id=attachment_id).first()
    if attachment is None:
        raise NotFound("Attachment not found.", code=ErrorCode.ATTACHMENT_NOT_FOUND)
    return attachment


def attachments_for_messages(*, message_ids: Iterable[UUID]) -> dict[UUID, list[Attachment]]:
    """The attachments of each message (upload order), in one query; messages without any are absent."""
    by_message: dict[UUID, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(message_id__in=list(message_ids)).order_by("created_at", "id"):
        assert attachment.message_id is not None
        by_message.setdefault(attachment.message_id, []).append(attachment)
    return by_message
