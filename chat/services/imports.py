"""Import chat exports (`chat.services.export`) as new chats: from the API upload and from the command.

A file holds one export document or a list of them. Everything is validated before anything is
written (format and version, types and sizes of every field, the tree's parents, the file
counts of `CHAT_IMPORT_MAX_*`); then the chats, their turns, messages and the files embedded as
`content_base64` are written in one transaction: all or nothing. A malformed file raises
`ValidationFailed` (`invalid_export`) whose details name the offending place (`path`), never a
server error. Attachments described without their contents are counted as skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appauth.models import AppUser
from backend import files as file_types
from backend.api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from backend.errors import ApplicationError, UnsupportedMediaType, ValidationFailed
from chat.errors import ErrorCode
from chat.models import Attachment, Chat, Message, MessagePair, Project
from chat.services.attachments import attachment_create, attachment_files_delete
from chat.services.export import EXPORT_FORMAT, EXPORT_VERSION, USAGE_FIELDS

MAX_TEXT_CHARS = 1_000_000  # one message's text (answers can be long; the field is unbounded)
MAX_TOKENS = 2**31 - 1
MAX_COST = Decimal("999999.999999")
MAX_ATTACHMENTS_PER_MESSAGE = 25
MESSAGE_STATUSES = {status.value for status in Message.Status}
TITLE_SOURCES = {source.value for source in Chat.TitleSource}


@dataclass
class ImportResult:
    chats: list[Chat]
    pairs: int = 0
    messages: int = 0
    attachments_restored: int = 0
    attachments_skipped: int = 0


def _invalid(path: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"The export file is invalid at {path or 'its top level'}: {reason}",
        code=ErrorCode.INVALID_EXPORT,
        details={"path": path, "reason": reason},
    )


# --- Reading the file --------------------------------------------------------------------------------


def export_file_parse(raw: bytes) -> Any:
    """The JSON of an uploaded export file. Raises ValidationFailed(invalid_export) when it is not JSON."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _invalid("", "the file is not UTF-8 text.") from None
    except (ValueError, RecursionError) as error:
        raise _invalid("", f"the file is not JSON ({str(error)[:120]}).") from None
    if json_depth_exceeds(data, MAX_JSON_DEPTH):
        raise _invalid("", "the JSON nests too deeply.")
    return data


def chat_import_file(
    *,
    user: AppUser,
    content: bytes,
    project: Project | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import an uploaded export file (`chat_import` after checking that the bytes are JSON text).

    Raises UnsupportedMediaType (`unsupported_export_type`) for a file that is not text (an
    archive, an image, a PDF), ValidationFailed (`invalid_export`) for anything malformed.
    """
    if not content.strip():
        raise _invalid("", "the file is empty.")
    mime = file_types.sniff_mime(content[: file_types.SNIFF_BYTES])
    if mime != "application/json" and not mime.startswith("text/"):
        raise UnsupportedMediaType(
            f"An export file is JSON text, not {mime}.",
            code=ErrorCode.UNSUPPORTED_EXPORT_TYPE,
            details={"detected": mime},
        )
    return chat_import(user=user, data=export_file_parse(content), project=project, progress=progress)


# --- Validation (nothing is written until the whole file passed) -----------------------------------------


class _Check:
    """Typed reads of one document's fields, each failure naming its path."""

    def __init__(self, path: str, value: Any) -> None:
        self.path, self.value = path, value

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise _invalid(self.path, "expected an object.")
        return self.value

    def at(self, key: str) -> _Check:
        return _Check(f"{self.path}.{key}" if self.path else key, self.obj().get(key))

    def text(self, *, max_chars: int, optional: bool = True) -> str:
        if self.value is None and optional:
            return ""
        if not isinstance(self.value, str):
            raise _invalid(self.path, "expected a string.")
        if len(self.value) > max_chars:
            raise _invalid(self.path, f"longer than {max_chars} characters.")
        if "\x00" in self.value:
            raise _invalid(self.path, "contains a NUL character.")
        return self.value

    def choice(self, choices: set[str], default: str) -> str:
        value = self.text(max_chars=64) or default
        if value not in choices:
            raise _invalid(self.path, f"must be one of {sorted(choices)}.")
        return value

    def flag(self) -> bool:
        if self.value is None:
            return False
        if not isinstance(self.value, bool):
            raise _invalid(self.path, "expected true or false.")
        return self.value

    def count(self, *, maximum: int = MAX_TOKENS) -> int:
        if self.value is None:
            return 0
        if isinstance(self.value, bool) or not isinstance(self.value, int) or not 0 <= self.value <= maximum:
            raise _invalid(self.path, f"expected a whole number from 0 to {maximum}.")
        return self.value

    def money(self) -> Decimal:
        if self.value is None:
            return Decimal(0)
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise _invalid(self.path, "expected a decimal number.")
        try:
            amount = Decimal(str(self.value))
        except InvalidOperation:
            raise _invalid(self.path, "expected a decimal number.") from None
        if not amount.is_finite() or not Decimal(0) <= amount <= MAX_COST:
            raise _invalid(self.path, f"expected an amount from 0 to {MAX_COST}.")
        return amount.quantize(Decimal("0.000001"))

    def moment(self) -> datetime | None:
        if self.value is None:
            return None
        text = self.text(max_chars=64)
        try:
            when = parse_datetime(text)
        except ValueError:
            when = None
        if when is None:
            raise _invalid(self.path, "expected an ISO 8601 date and time.")
        return when if timezone.is_aware(when) else when.replace(tzinfo=UTC)

    def items(self, *, maximum: int, optional: bool = True) -> list[_Check]:
        if self.value is None and optional:
            return []
        if not isinstance(self.value, list):
            raise _invalid(self.path, "expected a list.")
        if len(self.value) > maximum:
            raise _invalid(self.path, f"more than {maximum} entries.")
        return [_Check(f"{self.path}[{index}]", item) for index, item in enumerate(self.value)]


@dataclass
class _File:
    name: str
    content: bytes | None  # None: described only, not embedded


@dataclass
class _Message:
    fields: dict[str, Any]
    created_at: datetime | None
    files: list[_File]


@dataclass
class _Pair:
    ref: str
    parent_ref: str | None
    hidden: bool
    created_at: datetime | None
    messages: dict[str, _Message]


@dataclass
class _Document:
    chat: dict[str, Any]
    times: tuple[datetime | None, datetime | None]
    active_ref: str | None
    pairs: list[_Pair]  # parents before children


def _file(check: _Check) -> _File:
    check.obj()
    name = check.at("name").text(max_chars=200) or "file"
    encoded = check.at("content_base64")
    if encoded.value is None:
        return _File(name=name, content=None)
    if not isinstance(encoded.value, str):
        raise _invalid(encoded.path, "expected base64 text.")
    max_bytes = int(settings.CHAT_MAX_UPLOAD_BYTES)
    if len(encoded.value) > (max_bytes + 2) // 3 * 4 + 4:
        raise _invalid(encoded.path, f"the file is larger than {max_bytes} bytes.")
    try:
        content = base64.b64decode(encoded.value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(encoded.path, "not valid base64.") from None
    sha256 = check.at("sha256")
    if sha256.value is not None and sha256.text(max_chars=64) != hashlib.sha256(content).hexdigest():
        raise _invalid(sha256.path, "does not match the file's contents.")
    return _File(name=name, content=content)


def _message(check: _Check, role: str) -> _Message | None:
    if check.value is None:
        return None
    check.obj()
    status = check.at("status").choice(MESSAGE_STATUSES, Message.Status.COMPLETE)
    if status == Message.Status.STREAMING:
        # Nothing is generating it any more: keep the partial text as an interrupted answer.
        status = Message.Status.INTERRUPTED
    usage = check.at("usage")
    if usage.value is not None:
        usage.obj()
    fields = {
        "role": role,
        "status": status,
        "text": check.at("text").text(max_chars=MAX_TEXT_CHARS),
        "error_code": check.at("error_code").text(max_chars=64),
        "error_message": check.at("error_message").text(max_chars=MAX_TEXT_CHARS)[:500],
        "model_alias": check.at("model_alias").text(max_chars=64),
        "model_id": check.at("model_id").text(max_chars=128),
        "stop_reason": check.at("stop_reason").text(max_chars=64),
        "cost": check.at("cost").money(),
        "token_count": check.at("token_count").count(),
        "completed_at": check.at("completed_at").moment(),
        **{field: usage.at(field).count() if usage.value is not None else 0 for field in USAGE_FIELDS},
    }
    files = [_file(item) for item in check.at("attachments").items(maximum=MAX_ATTACHMENTS_PER_MESSAGE)]
    return _Message(fields=fields, created_at=check.at("created_at").moment(), files=files)


def _document(check: _Check) -> _Document:
    document = check.obj()
    if document.get("format") != EXPORT_FORMAT:
        raise _invalid(check.at("format").path, f"not a chat export (expected {EXPORT_FORMAT!r}).")
    if document.get("version") != EXPORT_VERSION:
        raise _invalid(check.at("version").path, f"unsupported export version {document.get('version')!r}.")
    raw_chat = check.at("chat")
    if raw_chat.value is None:
        raw_chat = _Check(raw_chat.path, {})
    raw_chat.obj()
    chat = {
        "title": raw_chat.at("title").text(max_chars=100_000)[:200] or "Imported chat",
        "title_source": raw_chat.at("title_source").choice(TITLE_SOURCES, Chat.TitleSource.DEFAULT),
        "system_prompt": raw_chat.at("system_prompt").text(max_chars=MAX_TEXT_CHARS),
        "model": raw_chat.at("model").text(max_chars=64),
        "archived": raw_chat.at("archived").flag(),
        "incognito": raw_chat.at("incognito").flag(),
    }
    times = (raw_chat.at("created_at").moment(), raw_chat.at("updated_at").moment())
    active_ref = raw_chat.at("active_leaf_id").text(max_chars=64) or None
    raw_pairs = check.at("pairs").items(maximum=int(settings.CHAT_IMPORT_MAX_PAIRS))
    pairs: list[_Pair] = []
    seen: set[str] = set()
    for raw_pair in raw_pairs:
        raw_pair.obj()
        ref = raw_pair.at("id").text(max_chars=64, optional=False)
        if not ref or ref in seen:
            raise _invalid(raw_pair.at("id").path, "missing or repeated pair id.")
        seen.add(ref)
        raw_pair.at("depth").count()
        messages = {
            str(role): message
            for role in (Message.Role.USER, Message.Role.ASSISTANT)
            if (message := _message(raw_pair.at(role), role)) is not None
        }
        pairs.append(
            _Pair(
                ref=ref,
                parent_ref=raw_pair.at("parent_id").text(max_chars=64) or None,
                hidden=raw_pair.at("hidden").flag(),
                created_at=raw_pair.at("created_at").moment(),
                messages=messages,
            )
        )
    return _Document(chat=chat, times=times, active_ref=active_ref, pairs=_parents_first(pairs, check.path))


def _parents_first(pairs: list[_Pair], path: str) -> list[_Pair]:
    """The pairs ordered so that each comes after its parent; refuses missing parents and cycles."""
    by_ref = {pair.ref: pair for pair in pairs}
    children: dict[str | None, list[_Pair]] = {}
    for index, pair in enumerate(pairs):
        if pair.parent_ref is not None and pair.parent_ref not in by_ref:
            where = f"{path}.pairs[{index}].parent_id" if path else f"pairs[{index}].parent_id"
            raise _invalid(where, "the pair's parent is missing from the export.")
        children.setdefault(pair.parent_ref, []).append(pair)
    ordered: list[_Pair] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        pair = stack.pop()
        ordered.append(pair)
        stack.extend(reversed(children.get(pair.ref, [])))
    if len(ordered) != len(pairs):
        raise _invalid(f"{path}.pairs" if path else "pairs", "the pairs' parents form a cycle.")
    return ordered


def export_documents(data: Any) -> list[_Document]:
    """The validated documents of an export file: one document, or a list of them."""
    if isinstance(data, list):
        if len(data) > int(settings.CHAT_IMPORT_MAX_CHATS):
            raise _invalid("", f"more than {settings.CHAT_IMPORT_MAX_CHATS} chats in one file.")
        if not data:
            raise _invalid("", "the file holds no chat.")
        checks = [_Check(f"[{index}]", document) for index, document in enumerate(data)]
    else:
        checks = [_Check("", data)]
    documents = [_document(check) for check in checks]
    if sum(len(document.pairs) for document in documents) > int(settings.CHAT_IMPORT_MAX_PAIRS):
        raise _invalid("", f"more than {settings.CHAT_IMPORT_MAX_PAIRS} turns in one file.")
    return documents


# --- Writing ---------------------------------------------------------------------------------------------


def _restore_file(*, user: AppUser, file: _File, message: Message, stored: list[str]) -> None:
    """Store an embedded file as an attachment of `message`, checked as an upload would be."""
    assert file.content is not None
    try:
        attachment = attachment_create(user=user, upload=SimpleUploadedFile(file.name, file.content))
    except ValidationFailed as error:
        if error.code == "invalid_export":
            raise
        raise _invalid(f"attachment {file.name!r}", error.message) from None
    except ApplicationError as error:  # too large, unsupported type: as the upload would have said
        raise _invalid(f"attachment {file.name!r}", error.message) from None
    stored.append(str(attachment.file.name))
    Attachment.objects.filter(id=attachment.id).update(message=message)


def _import_one(
    *, user: AppUser, document: _Document, project: Project | None, result: ImportResult, stored: list[str]
) -> Chat:
    chat = Chat.objects.create(user=user, project=project, **document.chat)
    new_pairs: dict[str, MessagePair] = {}
    messages: list[tuple[Message, _Message]] = []
    for raw_pair in document.pairs:
        parent = new_pairs[raw_pair.parent_ref] if raw_pair.parent_ref is not None else None
        pair = MessagePair(chat=chat, parent=parent, depth=parent.depth + 1 if parent else 0, hidden=raw_pair.hidden)
        new_pairs[raw_pair.ref] = pair
        messages += [(Message(pair=pair, user=user, **raw.fields), raw) for raw in raw_pair.messages.values()]
    MessagePair.objects.bulk_create(new_pairs.values())
    Message.objects.bulk_create([message for message, _ in messages])
    # auto_now_add stamped "now" on insert; put the original times back where the file has them.
    dated_pairs = []
    for raw_pair in document.pairs:
        if raw_pair.created_at is not None:
            new_pairs[raw_pair.ref].created_at = raw_pair.created_at
            dated_pairs.append(new_pairs[raw_pair.ref])
    MessagePair.objects.bulk_update(dated_pairs, ["created_at"], batch_size=500)
    dated_messages = []
    for message, raw in messages:
        if raw.created_at is not None:
            message.created_at = raw.created_at
            dated_messages.append(message)
        for file in raw.files:
            if file.content is None:
                result.attachments_skipped += 1
                continue
            _restore_file(user=user, file=file, message=message, stored=stored)
            result.attachments_restored += 1
    Message.objects.bulk_update(dated_messages, ["created_at"], batch_size=500)
    active_leaf = new_pairs.get(document.active_ref) if document.active_ref else None
    created_at, updated_at = document.times
    Chat.objects.filter(id=chat.id).update(
        active_leaf=active_leaf,
        last_message_preview=_preview(messages=[m for m, _ in messages], leaf=active_leaf),
        created_at=created_at or chat.created_at,
        updated_at=updated_at or chat.updated_at,
    )
    chat.refresh_from_db()
    result.pairs += len(new_pairs)
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

    All or nothing: raises ValidationFailed(invalid_export) on a malformed document (or an
    embedded file an upload would refuse) and imports none; files stored before the failure
    are deleted. `progress(done, total)` is called after each chat.
    """
    if project is not None and project.user_id != user.pk:
        raise ValidationFailed("Project not found.", code=ErrorCode.PROJECT_NOT_FOUND)
    documents = export_documents(data)
    result = ImportResult(chats=[])
    stored: list[str] = []
    try:
        with transaction.atomic():
            for number, document in enumerate(documents, start=1):
                result.chats.append(
                    _import_one(user=user, document=document, project=project, result=result, stored=stored)
                )
                if progress is not None:
                    progress(number, len(documents))
    except BaseException:
        attachment_files_delete(names=stored)
        raise
    return result
