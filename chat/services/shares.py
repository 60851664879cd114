"""Sharing a chat: a read-only snapshot of its active branch behind an unguessable link.

`share_create` freezes the branch the owner sees (text, status, model, and — only when the
owner includes them — the attachments' descriptions) and returns the token once; the database
keeps only its SHA-256. `share_revoke` ends a link for good. Reading a share is
`chat.selectors.shares`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils import timezone

from appauth.models import AppUser
from backend.errors import ErrorCode as CommonCode
from backend.errors import ValidationFailed
from chat.errors import ErrorCode
from chat.models import Attachment, Chat, ChatShare, Message
from chat.selectors.shares import share_get
from chat.selectors.tree import active_branch_ids


@dataclass(frozen=True)
class CreatedShare:
    share: ChatShare
    token: str  # shown once: only its hash is stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _attachment_data(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": str(attachment.id),
        "name": attachment.name,
        "kind": attachment.kind,
        "format": attachment.format,
        "mime_type": attachment.mime_type,
        "size_bytes": attachment.size_bytes,
        "width": attachment.width,
        "height": attachment.height,
    }


def _snapshot(*, chat: Chat, include_attachments: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The active branch as shared turns (root first), and the ids of the attachments it shows."""
    branch = active_branch_ids(chat=chat)
    position = {pair_id: index for index, pair_id in enumerate(branch)}
    messages = sorted(
        Message.objects.filter(pair_id__in=branch).prefetch_related("attachments"),
        key=lambda message: (position[message.pair_id], message.role != Message.Role.USER),
    )
    shared: list[dict[str, Any]] = []
    attachment_ids: list[str] = []
    for message in messages:
        attachments = list(message.attachments.all()) if include_attachments else []
        attachment_ids += [str(attachment.id) for attachment in attachments]
        shared.append(
            {
                "role": message.role,
                "text": message.text,
                "status": message.status,
                "model": message.model_id if message.role == Message.Role.ASSISTANT else "",
                "created_at": message.created_at.isoformat(),
                "attachments": [_attachment_data(attachment) for attachment in attachments],
            }
        )
    return shared, attachment_ids


def share_create(
    *, user: AppUser, chat: Chat, include_attachments: bool = False, expires_at: datetime | None = None
) -> CreatedShare:
    """Share `chat` (one of `user`'s) as it is now. Raises ValidationFailed for a past expiry or an empty chat."""
    if chat.user_id != user.pk:
        raise ValueError("a chat is shared by its owner only")  # callers look the chat up among the user's
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            "The expiry must be in the future.",
            code=CommonCode.INVALID,
            details={"expires_at": ["Must be in the future."]},
        )
    messages, attachment_ids = _snapshot(chat=chat, include_attachments=include_attachments)
    if not messages:
        raise ValidationFailed("The chat has no messages to share yet.", code=ErrorCode.NOTHING_TO_SHARE)
    token = secrets.token_urlsafe(32)
    share = ChatShare.objects.create(
        user=user,
        chat=chat,
        token_hash=token_hash(token),
        token_hint=token[:6],
        title=chat.title,
        snapshot={"messages": messages},
        include_attachments=include_attachments,
        attachment_ids=attachment_ids,
        expires_at=expires_at,
    )
    return CreatedShare(share=share, token=token)


def share_revoke(*, user: AppUser, share_id: UUID) -> ChatShare:
    """Revoke one of `user`'s shares (idempotent: revoking twice keeps the first time). Foreign id: NotFound."""
    share = share_get(user=user, share_id=share_id)
    if share.revoked_at is None:
        ChatShare.objects.filter(id=share.id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        share.refresh_from_db(fields=["revoked_at"])
    return share
