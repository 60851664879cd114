"""Chat attachments: upload, check, claim by a message, delete, purge, and turn into model blocks.

A file is uploaded before the message that carries it exists (`message` is null); sending the
message claims it (`attachments_claim`). Unclaimed uploads are purged after
`CHAT_ATTACHMENT_TTL_HOURS` by `attachments_purge_unclaimed` (a periodic task).

What a file is comes from its bytes (libmagic through `backend.files`), never from the
client's Content-Type or the file name:

- images: PNG, JPEG, GIF, WebP. One larger than the model's limits (pixels per side, bytes)
  is shrunk to fit rather than refused; one with an EXIF rotation is stored upright.
- documents: PDF, DOC, DOCX, XLS, XLSX, HTML, CSV, TXT, MD. Text files are told apart by the
  extension (a CSV or Markdown file sniffs as `text/plain`).

Its error codes (415 `unsupported_file_type`, 400 `file_type_mismatch`, 413
`attachment_too_large`, …) are the attachment section of `chat.errors.ErrorCode`, which says
when each is given; docs/error-codes.md lists them for clients.

Limits are the smallest over the alias's fallback chain, so every model that may answer
can take every file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath
from typing import cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils import timezone

from appauth.models import AppUser
from backend import files
from backend.errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from backend.llm.registry import get_registry
from backend.llm.types import DocumentBlock, DocumentFormat, ImageBlock, ImageFormat
from chat.errors import ErrorCode
from chat.models import Attachment, Message

logger = logging.getLogger(__name__)

_CONVERSE_NAME_MAX = 200
_PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    max_images: int
    max_image_bytes: int
    max_image_pixels: int
    max_documents: int
    max_document_bytes: int


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What an upload is and whether it is accepted as it is (`will_downscale`: it gets shrunk)."""

    kind: str
    format: str
    mime_type: str
    name: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    will_downscale: bool = False
    reencode: bool = False  # downscale, or store upright (EXIF rotation)


def attachment_limits(*, alias: str | None = None) -> AttachmentLimits:
    """The attachment limits every model of `alias`'s fallback chain accepts (default alias if None).

    Raises ValidationFailed `unknown_model` for an unknown alias.
    """
    chain = get_registry().chain(alias or settings.LLM_DEFAULT_ALIAS)
    return AttachmentLimits(
        max_images=min(model.max_images for model in chain),
        max_image_bytes=min(model.max_image_bytes for model in chain),
        max_image_pixels=min(model.max_image_pixels for model in chain),
        max_documents=min(model.max_documents for model in chain),
        max_document_bytes=min(model.max_document_bytes for model in chain),
    )


def converse_document_name(name: str) -> str:
    """A document name Bedrock accepts, derived from a file name: the stem, without the extension,
    reduced to ASCII letters, digits, single spaces, hyphens, parentheses and square brackets,
    at most 200 characters; `document` when nothing is left.
    """
    stem = PurePosixPath(name.replace("\\", "/")).name
    if "." in stem.strip("."):
        stem = stem.rsplit(".", 1)[0]
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9\-()\[\] ]+", " ", ascii_only)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()[:_CONVERSE_NAME_MAX].strip()
    return cleaned or "document"


def _display_name(raw: str | None, kind: str, file_format: str) -> str:
    name = PurePosixPath((raw or "").replace("\\", "/")).name
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    if not name:
        return f"{kind}.{file_format}"
    if len(name) > 200:
        suffix = PurePosixPath(name).suffix[:20]
        name = name[: 200 - len(suffix)] + suffix
    return name


def _unsupported(mime: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "This file type is not supported. Upload an image (PNG, JPEG, GIF, WebP) or a document "
        "(PDF, Word, Excel, CSV, HTML, text, Markdown).",
        code=ErrorCode.UNSUPPORTED_FILE_TYPE,
        details={"mime_type": mime},
    )


def _mismatch(extension: str, file_format: str) -> ValidationFailed:
    return ValidationFailed(
        f"The file's content ({file_format}) does not match its name (.{extension}).",
        code=ErrorCode.FILE_TYPE_MISMATCH,
        details={"extension": extension, "detected_format": file_format},
    )


def _too_large(message: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(message, code=ErrorCode.ATTACHMENT_TOO_LARGE, details={"max_bytes": max_bytes})


def _read_checked(upload: UploadedFile, limits: AttachmentLimits) -> tuple[FileCheck, bytes]:
    cap = settings.CHAT_MAX_UPLOAD_BYTES
    size = upload.size
    if size is None or size > cap:
        raise _too_large("The file is too large.", cap)
    if size == 0:
        raise ValidationFailed("The file is empty.", code=ErrorCode.EMPTY_FILE)
    upload.seek(0)
    head = upload.read(files.SNIFF_BYTES)
    mime = files.sniff_mime(head)
    try:
        file_format = files.detect_format(mime=mime, name=upload.name)
    except files.UnsupportedFileType as exc:
        raise _unsupported(mime) from exc
    except files.FileTypeMismatch as exc:
        raise _mismatch(exc.extension, exc.detected) from exc
    is_image = file_format in files.IMAGE_FORMATS
    if not is_image and size > limits.max_document_bytes:
        raise _too_large(
            f"Documents can be at most {limits.max_document_bytes} bytes for this model.", limits.max_document_bytes
        )
    upload.seek(0)
    data = upload.read()
    if file_format is None:  # a zip named .docx/.xlsx: look inside
        try:
            file_format = files.detect_ooxml_format(data, name=upload.name)
        except files.UnsupportedFileType as exc:
            raise _unsupported(mime) from exc
        except files.FileTypeMismatch as exc:
            raise _mismatch(exc.extension, exc.detected) from exc
    kind = Attachment.Kind.IMAGE if is_image else Attachment.Kind.DOCUMENT
    check = FileCheck(
        kind=kind,
        format=file_format,
        mime_type=files.FORMAT_MIME[file_format],
        name=_display_name(upload.name, kind, file_format),
        size_bytes=len(data),
    )
    if is_image:
        check = _checked_image(check, data, limits)
    return check, data


def _checked_image(check: FileCheck, data: bytes, limits: AttachmentLimits) -> FileCheck:
    try:
        info = files.inspect_image(data)
        if info.format != check.format:  # libmagic and Pillow disagree: a crafted file
            raise _unsupported(files.FORMAT_MIME[check.format])
        too_big = max(info.width, info.height) > limits.max_image_pixels or check.size_bytes > limits.max_image_bytes
        if not too_big:  # kept as uploaded (or only rotated): make sure every pixel decodes
            files.inspect_image(data, decode=True)
    except files.InvalidImage as exc:
        raise ValidationFailed(f"The image cannot be read: {exc}.", code=ErrorCode.INVALID_IMAGE) from exc
    return FileCheck(
        kind=check.kind,
        format=check.format,
        mime_type=check.mime_type,
        name=check.name,
        size_bytes=check.size_bytes,
        width=info.width,
        height=info.height,
        will_downscale=too_big,
        reencode=too_big or info.rotated,
    )


def attachment_check(*, upload: UploadedFile, alias: str | None = None) -> FileCheck:
    """What `attachment_create` would store for `upload`, without storing anything.

    Raises the same errors as `attachment_create`.
    """
    check, _data = _read_checked(upload, attachment_limits(alias=alias))
    return check


def attachment_create(*, user: AppUser, upload: UploadedFile, alias: str | None = None) -> Attachment:
    """Check `upload` against the limits of `alias` (default alias if None), store it, return it.

    The attachment belongs to `user` and to no message yet. Images over the limits are shrunk
    (and rotated upright); the stored key is random, never derived from the client's name.
    """
    limits = attachment_limits(alias=alias)
    check, data = _read_checked(upload, limits)
    file_format, width, height = check.format, check.width, check.height
    if check.reencode:
        try:
            image = files.downscale_image(
                data, max_pixels_side=limits.max_image_pixels, max_bytes=limits.max_image_bytes
            )
        except files.InvalidImage as exc:
            raise ValidationFailed(f"The image cannot be read: {exc}.", code=ErrorCode.INVALID_IMAGE) from exc
        except ValueError as exc:
            raise _too_large("The image cannot be shrunk enough for this model.", limits.max_image_bytes) from exc
        data, file_format, width, height = image.data, image.format, image.width, image.height

    attachment = Attachment(
        id=uuid.uuid4(),
        user=user,
        kind=check.kind,
        format=file_format,
        mime_type=files.FORMAT_MIME[file_format],
        name=check.name,
        size_bytes=len(data),
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    attachment.file.save(f"{attachment.id.hex}.{file_format}", ContentFile(data), save=False)
    try:
        attachment.save(force_insert=True)
    except BaseException:
        _delete_stored(attachment.file.storage, attachment.file.name)
        raise
    return attachment


@transaction.atomic
def attachments_claim(
    *, user: AppUser, attachment_ids: Iterable[uuid.UUID], message: Message, alias: str | None = None
) -> list[Attachment]:
    """Attach `user`'s uploaded, unclaimed attachments to `message` (a user message of theirs).

    Returns them in the order given. Limits come from `alias`, else the message's alias, else
    the default alias. Raises NotFound `attachment_not_found` (unknown or someone else's id;
    details list them), ValidationFailed `attachment_already_claimed`, `too_many_attachments`,
    PayloadTooLarge `attachment_too_large` (stored for a model with larger limits).
    """
    ids = list(dict.fromkeys(attachment_ids))
    if not ids:
        return []
    if message.role != Message.Role.USER or not Message.objects.filter(pk=message.pk, pair__chat__user=user).exists():
        raise ValidationFailed(
            "Attachments can only be added to your own user messages.", code=ErrorCode.INVALID_MESSAGE
        )
    found = {a.id: a for a in Attachment.objects.select_for_update().filter(user=user, id__in=ids)}
    missing = [str(attachment_id) for attachment_id in ids if attachment_id not in found]
    if missing:
        raise NotFound(
            "Attachment not found.", code=ErrorCode.ATTACHMENT_NOT_FOUND, details={"attachment_ids": missing}
        )
    used = [str(a.id) for a in found.values() if a.message_id is not None and a.message_id != message.id]
    if used:
        raise ValidationFailed(
            "An attachment was already sent with another message.",
            code=ErrorCode.ATTACHMENT_ALREADY_CLAIMED,
            details={"attachment_ids": used},
        )

    limits = attachment_limits(alias=alias or message.model_alias or None)
    counts = Counter(Attachment.objects.filter(message=message).exclude(id__in=ids).values_list("kind", flat=True))
    counts.update(a.kind for a in found.values())
    if counts[Attachment.Kind.IMAGE] > limits.max_images or counts[Attachment.Kind.DOCUMENT] > limits.max_documents:
        raise ValidationFailed(
            f"A message can carry at most {limits.max_images} images and {limits.max_documents} documents.",
            code=ErrorCode.TOO_MANY_ATTACHMENTS,
            details={"max_images": limits.max_images, "max_documents": limits.max_documents},
        )
    for attachment in found.values():
        _check_fits(attachment, limits)

    Attachment.objects.filter(id__in=ids).update(message=message)
    for attachment in found.values():
        attachment.message = message
    return [found[attachment_id] for attachment_id in ids]


def _check_fits(attachment: Attachment, limits: AttachmentLimits) -> None:
    if attachment.kind == Attachment.Kind.IMAGE:
        max_bytes = limits.max_image_bytes
        fits = attachment.size_bytes <= max_bytes and max(attachment.width or 0, attachment.height or 0) <= (
            limits.max_image_pixels
        )
    else:
        max_bytes = limits.max_document_bytes
        fits = attachment.size_bytes <= max_bytes
    if not fits:
        raise PayloadTooLarge(
            f"{attachment.name} is too large for this model.",
            code=ErrorCode.ATTACHMENT_TOO_LARGE,
            details={"attachment_id": str(attachment.id), "max_bytes": max_bytes},
        )


def attachment_delete(*, user: AppUser, attachment_id: uuid.UUID) -> None:
    """Delete one of `user`'s unclaimed uploads and its stored file (once the transaction commits).

    Raises NotFound `attachment_not_found`, Conflict `attachment_in_use` (already sent).
    """
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().filter(user=user, id=attachment_id).first()
        if attachment is None:
            raise NotFound("Attachment not found.", code=ErrorCode.ATTACHMENT_NOT_FOUND)
        if attachment.message_id is not None:
            raise Conflict(
                "This attachment was sent with a message and cannot be deleted.", code=ErrorCode.ATTACHMENT_IN_USE
            )
        storage, name = attachment.file.storage, attachment.file.name
        attachment.delete()
        transaction.on_commit(lambda: _delete_stored(storage, name))


def attachments_purge_unclaimed(*, older_than: timedelta) -> int:
    """Delete uploads no message claimed within `older_than`, and their files. Returns how many.

    Rows a concurrent claim holds are skipped (they are being claimed); files go once each
    batch commits.
    """
    cutoff = timezone.now() - older_than
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                Attachment.objects.select_for_update(skip_locked=True)
                .filter(message__isnull=True, created_at__lt=cutoff)
                .values_list("id", "file")[:_PURGE_BATCH]
            )
            if not batch:
                return purged
            Attachment.objects.filter(id__in=[row[0] for row in batch]).delete()
            names = [row[1] for row in batch if row[1]]
            transaction.on_commit(partial(_delete_many, _attachment_storage(), names))
        purged += len(batch)


def attachment_files_delete(*, names: list[str]) -> None:
    """Delete stored files whose rows never came to be (an import that rolled back)."""
    _delete_many(_attachment_storage(), names)


def _attachment_storage() -> Storage:
    field = Attachment._meta.get_field("file")
    assert isinstance(field, models.FileField)
    return field.storage


def _delete_many(storage: Storage, names: list[str]) -> None:
    for name in names:
        _delete_stored(storage, name)


def _delete_stored(storage: Storage, name: str | None) -> None:
    if not name:
        return
    try:
        storage.delete(name)
    except Exception:  # a leftover file is harmless; the row is what matters
        logger.warning("could not delete stored attachment file %s", name, exc_info=True)


def attachment_blocks(*, attachments: Iterable[Attachment]) -> list[ImageBlock | DocumentBlock]:
    """Converse image/document blocks for `attachments`, in order, with the stored bytes.

    Document names are made Bedrock-safe (`converse_document_name`) and unique within the list.
    """
    blocks: list[ImageBlock | DocumentBlock] = []
    used_names: set[str] = set()
    for attachment in attachments:
        with attachment.file.storage.open(str(attachment.file.name), "rb") as handle:
            data = handle.read()
        if attachment.kind == Attachment.Kind.IMAGE:
            blocks.append(ImageBlock(format=cast(ImageFormat, attachment.format), data=data))
            continue
        base = converse_document_name(attachment.name)
        name, number = base, 1
        while name.lower() in used_names:
            number += 1
            suffix = f" ({number})"
            name = base[: _CONVERSE_NAME_MAX - len(suffix)] + suffix
        used_names.add(name.lower())
        blocks.append(DocumentBlock(format=cast(DocumentFormat, attachment.format), name=name, data=data))
    return blocks
