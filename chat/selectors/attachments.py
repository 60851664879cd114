"""Reads of chat attachments, always scoped to their owner."""

from __future__ import annotations

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
