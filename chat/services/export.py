"""Export a chat (JSON: the whole tree; Markdown: the active branch) and import JSON exports.

The JSON document is the product's own backup/migration format (`EXPORT_FORMAT`, `EXPORT_VERSION`).
Attachments are described (name, kind, format, size), never embedded: an import therefore brings
back the conversation without the files, and says how many it skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appauth.models import AppUser
from backend.errors import ValidationFailed
from chat.models import Attachment, Chat, Message, MessagePair, Project
from chat.selectors.tree import active_branch_ids

EXPORT_FORMAT = "aiassistant.chat"
EXPORT_VERSION = 1
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


# --- export --------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
        "sha256": attachment.sha256,
    }


def _message_data(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    return {
        "id": str(message.id),
        "status": message.status,
        "text": message.text,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "model_alias": message.model_alias,
        "model_id": message.model_id,
        "stop_reason": message.stop_reason,
        "usage": {field: getattr(message, field) for field in USAGE_FIELDS},
        "cost": str(message.cost),
        "token_count": message.token_count,
        "created_at": _iso(message.created_at),
        "completed_at": _iso(message.completed_at),
        "attachments": [_attachment_data(attachment) for attachment in message.attachments.all()],
    }


def _pairs_with_messages(chat: Chat) -> list[MessagePair]:
    return list(
        MessagePair.objects.filter(chat=chat)
        .prefetch_related("messages__attachments")
        .order_by("depth", "created_at", "id")
    )


def _by_role(pair: MessagePair) -> dict[str, Message]:
    return {message.role: message for message in pair.messages.all()}


def chat_export_json(*, chat: Chat) -> dict[str, Any]:
    """The whole conversation tree of `chat` as a JSON-ready dict (parents before children)."""
    pairs = []
    for pair in _pairs_with_messages(chat):
        messages = _by_role(pair)
        pairs.append(
            {
                "id": str(pair.id),
                "parent_id": str(pair.parent_id) if pair.parent_id else None,
                "depth": pair.depth,
                "hidden": pair.hidden,
                "created_at": _iso(pair.created_at),
                "user": _message_data(messages.get(Message.Role.USER)),
                "assistant": _message_data(messages.get(Message.Role.ASSISTANT)),
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "chat": {
            "id": str(chat.id),
            "title": chat.title,
            "title_source": chat.title_source,
            "system_prompt": chat.system_prompt,
            "saved_prompt_name": chat.saved_prompt.name if chat.saved_prompt else None,
            "model": chat.model,
            "archived": chat.archived,
            "incognito": chat.incognito,
            "project_name": chat.project.name if chat.project else None,
            "active_leaf_id": str(chat.active_leaf_id) if chat.active_leaf_id else None,
            "created_at": _iso(chat.created_at),
            "updated_at": _iso(chat.updated_at),
        },
        "pairs": pairs,
    }


def _markdown_message(heading: str, message: Message) -> list[str]:
    lines = [f"### {heading}", "", message.text or "_(no text)_", ""]
    for attachment in message.attachments.all():
        lines.append(
            f"- Attachment: {attachment.name} ({attachment.kind}, {attachment.format}, {attachment.size_bytes} bytes)"
        )
    if message.role == Message.Role.ASSISTANT and message.status != Message.Status.COMPLETE:
        detail = f": {message.error_code}" if message.error_code else ""
        lines.append(f"_(answer {message.status}{detail})_")
    if lines[-1] != "":
        lines.append("")
    return lines


def chat_export_markdown(*, chat: Chat) -> str:
    """The active branch of `chat` as a readable transcript."""
    branch = active_branch_ids(chat=chat)
    pairs = {pair.id: pair for pair in _pairs_with_messages(chat)}
    lines = [f"# {chat.title}", ""]
    if chat.project:
        lines.append(f"- Project: {chat.project.name}")
    lines.append(f"- Model: {chat.model or 'default'}")
    lines.append(f"- Created: {_iso(chat.created_at)}")
    lines.append("")
    system_prompt = chat.system_prompt or (chat.saved_prompt.content if chat.saved_prompt else "")
    if system_prompt:
        lines += ["## System prompt", "", system_prompt, ""]
    for number, pair_id in enumerate(branch, start=1):
        pair = pairs[pair_id]
        messages = _by_role(pair)
        lines += [f"## Turn {number}" + (" (hidden from the model)" if pair.hidden else ""), ""]
        if Message.Role.USER in messages:
            lines += _markdown_message("User", messages[Message.Role.USER])
        if Message.Role.ASSISTANT in messages:
            assistant = messages[Message.Role.ASSISTANT]
            lines += _markdown_message(
                f"Assistant ({assistant.model_id or assistant.model_alias or 'model'})", assistant
            )
    return "\n".join(lines).rstrip() + "\n"


# --- import --------------------------------------------------------------------------------


@dataclass
class ImportResult:
    chats: list[Chat]
    pairs: int = 0
    messages: int = 0
    attachments_skipped: int = 0


def export_documents(data: Any) -> list[dict[str, Any]]:
    """The chat documents in an export file: one document, or a list of them."""
    documents = data if isinstance(data, list) else [data]
    for document in documents:
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise ValidationFailed("Not a chat export document.", code="invalid_export")
        if document.get("version") != EXPORT_VERSION:
            raise ValidationFailed(f"Unsupported export version {document.get('version')!r}.", code="invalid_export")
    return documents


def _when(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def _import_message(*, pair: MessagePair, role: str, raw: dict[str, Any]) -> Message:
    status = raw.get("status") or Message.Status.COMPLETE
    if status == Message.Status.STREAMING:
        # Nothing is generating it any more: keep the partial text as an interrupted answer.
        status = Message.Status.INTERRUPTED
    usage = raw.get("usage") or {}
    return Message(
        pair=pair,
        user_id=pair.chat.user_id,
        role=role,
        status=status,
        text=raw.get("text") or "",
        error_code=raw.get("error_code") or "",
        error_message=raw.get("error_message") or "",
        model_alias=raw.get("model_alias") or "",
        model_id=raw.get("model_id") or "",
        stop_reason=raw.get("stop_reason") or "",
        cost=Decimal(str(raw.get("cost") or "0")),
        token_count=int(raw.get("token_count") or 0),
        completed_at=_when(raw.get("completed_at")),
        **{field: int(usage.get(field) or 0) for field in USAGE_FIELDS},
    )


def _import_one(*, user: AppUser, document: dict[str, Any], project: Project | None, result: ImportResult) -> Chat:
    raw_chat = document.get("chat") or {}
    chat = Chat.objects.create(
        user=user,
        project=project,
        title=(raw_chat.get("title") or "Imported chat")[:200],
        title_source=raw_chat.get("title_source") or Chat.TitleSource.DEFAULT,
        system_prompt=raw_chat.get("system_prompt") or "",
        model=raw_chat.get("model") or "",
        archived=bool(raw_chat.get("archived")),
        incognito=bool(raw_chat.get("incognito")),
    )
    new_ids: dict[str, MessagePair] = {}
    pairs: list[MessagePair] = []
    pair_times: dict[UUID, datetime] = {}
    messages: list[tuple[Message, datetime | None]] = []
    raw_pairs = sorted(document.get("pairs") or [], key=lambda raw: int(raw.get("depth") or 0))
    for raw_pair in raw_pairs:
        parent_ref = raw_pair.get("parent_id")
        if parent_ref is not None and parent_ref not in new_ids:
            raise ValidationFailed("A pair's parent is missing from the export.", code="invalid_export")
        parent = new_ids[parent_ref] if parent_ref is not None else None
        pair = MessagePair(
            chat=chat, parent=parent, depth=parent.depth + 1 if parent else 0, hidden=bool(raw_pair.get("hidden"))
        )
        pair_created_at = _when(raw_pair.get("created_at"))
        if pair_created_at is not None:
            pair_times[pair.id] = pair_created_at
        new_ids[str(raw_pair.get("id"))] = pair
        pairs.append(pair)
        for role in (Message.Role.USER, Message.Role.ASSISTANT):
            raw_message = raw_pair.get(role)
            if raw_message:
                messages.append(
                    (_import_message(pair=pair, role=role, raw=raw_message), _when(raw_message.get("created_at")))
                )
                result.attachments_skipped += len(raw_message.get("attachments") or [])
    MessagePair.objects.bulk_create(pairs)
    Message.objects.bulk_create([message for message, _ in messages])
    # auto_now_add stamped "now" on insert; put the original times back where the file has them.
    dated_pairs = [pair for pair in pairs if pair.id in pair_times]
    for pair in dated_pairs:
        pair.created_at = pair_times[pair.id]
    MessagePair.objects.bulk_update(dated_pairs, ["created_at"], batch_size=500)
    dated_messages = []
    for message, created_at in messages:
        if created_at is not None:
            message.created_at = created_at
            dated_messages.append(message)
    Message.objects.bulk_update(dated_messages, ["created_at"], batch_size=500)
    active_ref = raw_chat.get("active_leaf_id")
    active_leaf = new_ids.get(active_ref) if isinstance(active_ref, str) else None
    Chat.objects.filter(id=chat.id).update(
        active_leaf=active_leaf,
        last_message_preview=_preview(messages=[m for m, _ in messages], leaf=active_leaf),
        created_at=_when(raw_chat.get("created_at")) or chat.created_at,
        updated_at=_when(raw_chat.get("updated_at")) or chat.updated_at,
    )
    chat.refresh_from_db()
    result.pairs += len(pairs)
    result.messages += len(messages)
    return chat


def _preview(*, messages: list[Message], leaf: MessagePair | None) -> str:
    if leaf is None:
        return ""
    leaf_messages = [message for message in messages if message.pair is leaf]
    assistant = [message for message in leaf_messages if message.role == Message.Role.ASSISTANT]
    chosen = assistant or leaf_messages
    return chosen[0].text[:200] if chosen else ""


def chat_import(
    *,
    user: AppUser,
    data: Any,
    project: Project | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import one export document or a list of them as new chats of `user` (fresh ids, same tree).

    All or nothing: raises ValidationFailed(invalid_export) on a malformed document and imports none.
    `progress(done, total)` is called after each chat.
    """
    if project is not None and project.user_id != user.pk:
        raise ValidationFailed("Project not found.", code="project_not_found")
    documents = export_documents(data)
    result = ImportResult(chats=[])
    with transaction.atomic():
        for number, document in enumerate(documents, start=1):
            result.chats.append(_import_one(user=user, document=document, project=project, result=result))
            if progress is not None:
                progress(number, len(documents))
    return result
