"""Reading shares: the owner's list, and the public side (a token opens a live share's snapshot).

Attachments of a share are served through URLs signed for that share and attachment, valid
`CHAT_SHARE_ATTACHMENT_URL_SECONDS`; a revoked or expired share serves none, signed or not.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet
from django.utils import timezone

from appauth.models import AppUser
from backend.errors import ApplicationError, NotFound
from chat.errors import ErrorCode
from chat.models import Attachment, ChatShare

ATTACHMENT_SALT = "chat.share.attachment"
TOKEN_MAX_CHARS = 64


class ShareGone(ApplicationError):
    """A share that existed but was revoked by its owner or expired: 410."""

    status_code = 410
    code = ErrorCode.SHARE_GONE


def shares_list(*, user: AppUser, chat_id: UUID | None = None) -> QuerySet[ChatShare]:
    """The user's shares, newest first (optionally of one chat)."""
    queryset = ChatShare.objects.filter(user=user)
    if chat_id is not None:
        queryset = queryset.filter(chat_id=chat_id)
    return queryset.order_by("-created_at", "-id")


def share_get(*, user: AppUser, share_id: UUID) -> ChatShare:
    share = ChatShare.objects.filter(user=user, id=share_id).first()
    if share is None:
        raise NotFound("Share not found.", code=ErrorCode.SHARE_NOT_FOUND)
    return share


def share_state(share: ChatShare) -> str:
    """`active`, `revoked` or `expired`."""
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at is not None and share.expires_at <= timezone.now():
        return "expired"
    return "active"


def shared_get(*, token: str) -> ChatShare:
    """The live share a link's token opens. Unknown: NotFound; revoked or expired: ShareGone (410)."""
    share = None
    if 0 < len(token) <= TOKEN_MAX_CHARS:
        share = ChatShare.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest()).first()
    if share is None:
        raise NotFound("This shared chat does not exist.", code=ErrorCode.SHARE_NOT_FOUND)
    state = share_state(share)
    if state == "revoked":
        raise ShareGone("The owner stopped sharing this chat.", code=ErrorCode.SHARE_REVOKED)
    if state == "expired":
        raise ShareGone("This shared link has expired.", code=ErrorCode.SHARE_EXPIRED)
    return share


def shared_attachment_signature(*, share: ChatShare, attachment_id: str) -> str:
    """The `s` parameter of an attachment's URL: a timestamped signature of (share, attachment)."""
    payload = f"{share.id}:{attachment_id}"
    return signing.TimestampSigner(salt=ATTACHMENT_SALT).sign(payload)[len(payload) + 1 :]


def shared_attachment_get(*, token: str, attachment_id: UUID, signature: str) -> Attachment:
    """An attachment of a live share through its signed URL. Anything else: NotFound (or ShareGone)."""
    share = shared_get(token=token)
    if not share.include_attachments or str(attachment_id) not in share.attachment_ids:
        raise NotFound("Attachment not found.", code=ErrorCode.ATTACHMENT_NOT_FOUND)
    try:
        signing.TimestampSigner(salt=ATTACHMENT_SALT).unsign(
            f"{share.id}:{attachment_id}:{signature}", max_age=settings.CHAT_SHARE_ATTACHMENT_URL_SECONDS
        )
    except signing.BadSignature:
        raise NotFound("The attachment link is invalid or expired.", code=ErrorCode.ATTACHMENT_LINK_INVALID) from None
    attachment = Attachment.objects.filter(id=attachment_id).first()
    if attachment is None:
        raise NotFound("Attachment not found.", code=ErrorCode.ATTACHMENT_NOT_FOUND)
    return attachment


def shared_document(*, share: ChatShare, attachment_url: Any) -> dict[str, Any]:
    """What the public endpoint and page show: the snapshot, never who shared it.

    `attachment_url(share, attachment)` builds a signed download URL for each included attachment.
    """
    messages = []
    for message in share.snapshot.get("messages", []):
        attachments = [
            {**{k: v for k, v in attachment.items() if k != "id"}, "download_url": attachment_url(share, attachment)}
            for attachment in message.get("attachments", [])
            if share.include_attachments
        ]
        messages.append({**message, "attachments": attachments})
    return {
        "title": share.title,
        "shared_at": share.created_at,
        "expires_at": share.expires_at,
        "messages": messages,
    }
