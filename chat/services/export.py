"""Export a chat: JSON (the whole tree) or Markdown (the active branch). Importing is `chat.services.imports`.

The JSON document is the product's own backup/migration format (`EXPORT_FORMAT`, `EXPORT_VERSION`).
Attachments are described (name, kind, format, size); with `embed_files` their contents travel
too (`content_base64`), so that an import restores the files as well.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from django.utils import timezone

from chat.models import Attachment, Chat, Message, MessagePair
from chat.selectors.tree import active_branch_ids

EXPORT_FORMAT = "aiassistant.chat"
EXPORT_VERSION = 1
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


# --- export --------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _attachment_data(attachment: Attachment, *, embed_files: bool = False) -> dict[str, Any]:
    data = {
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
    if embed_files:
        with attachment.file.open("rb") as stored:
            data["content_base64"] = base64.b64encode(stored.read()).decode("ascii")
    return data


def _message_data(message: Message | None, *, embed_files: bool = False) -> dict[str, Any] | None:
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
        "attachments": [
            _attachment_data(attachment, embed_files=embed_files) for attachment in message.attachments.all()
        ],
    }


def _pairs_with_messages(chat: Chat) -> list[MessagePair]:
    return list(
        MessagePair.objects.filter(chat=chat)
        .prefetch_related("messages__attachments")
        .order_by("depth", "created_at", "id")
    )


def _by_role(pair: MessagePair) -> dict[str, Message]:
    return {message.role: message for message in pair.messages.all()}


def chat_export_json(*, chat: Chat, embed_files: bool = False) -> dict[str, Any]:
    """The whole conversation tree of `chat` as a JSON-ready dict (parents before children).

    `embed_files`: each attachment also carries its file, base64-encoded (`content_base64`).
    """
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
                "user": _message_data(messages.get(Message.Role.USER), embed_files=embed_files),
                "assistant": _message_data(messages.get(Message.Role.ASSISTANT), embed_files=embed_files),
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
