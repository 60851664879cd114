"""Attachment services against the real database and the local file storage."""

import hashlib
import io
import os
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from backend.errors import ApplicationError
from backend.llm.types import DocumentBlock, ImageBlock
from chat.models import Attachment, Chat, Message, MessagePair
from chat.services.attachments import (
    attachment_blocks,
    attachment_check,
    attachment_create,
    attachment_delete,
    attachment_limits,
    attachments_claim,
    attachments_purge_unclaimed,
    converse_document_name,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1016)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + bytes(200)


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(output, format=image_format)
    return output.getvalue()


def noisy_png(size: tuple[int, int]) -> bytes:
    output = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(output, format="PNG")
    return output.getvalue()


def zip_bytes(*names: str) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return output.getvalue()


DOCX = zip_bytes("[Content_Types].xml", "_rels/.rels", "word/document.xml")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = zip_bytes("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml")


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def set_limits(settings, **limits) -> None:
    settings.LLM_MODELS = [{**model, **limits} for model in settings.LLM_MODELS]


def stored_bytes(attachment: Attachment) -> bytes:
    with attachment.file.storage.open(attachment.file.name, "rb") as handle:
        return handle.read()


def error_of(excinfo: pytest.ExceptionInfo[ApplicationError]) -> tuple[int, str]:
    return excinfo.value.status_code, excinfo.value.code


def user_message(user, role: str = Message.Role.USER) -> Message:
    chat = Chat.objects.create(user=user)
    pair = MessagePair.objects.create(chat=chat)
    return Message.objects.create(pair=pair, role=role, text="look at this")


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    ("name", "data", "kind", "file_format", "mime_type"),
    [
        ("photo.png", image_bytes("PNG"), "image", "png", "image/png"),
        ("photo.JPG", image_bytes("JPEG"), "image", "jpeg", "image/jpeg"),
        ("anim.gif", image_bytes("GIF"), "image", "gif", "image/gif"),
        ("pic.webp", image_bytes("WEBP"), "image", "webp", "image/webp"),
        ("pasted image", image_bytes("PNG"), "image", "png", "image/png"),
        ("report.pdf", PDF, "document", "pdf", "application/pdf"),
        ("table.csv", b"name,qty\napple,3\npear,5\n", "document", "csv", "text/csv"),
        ("notes.md", b"# Notes\n\n- one\n- two\n", "document", "md", "text/markdown"),
        ("notes.txt", b"plain words\n", "document", "txt", "text/plain"),
        ("page.html", b"<!DOCTYPE html><html><body>hi</body></html>", "document", "html", "text/html"),
        ("letter.docx", DOCX, "document", "docx", DOCX_MIME),
        ("sheet.xlsx", XLSX, "document", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (
            "reordered.docx",
            zip_bytes("_rels/.rels", "word/document.xml", "[Content_Types].xml"),
            "document",
            "docx",
            DOCX_MIME,
        ),
        ("old.doc", OLE_HEADER, "document", "doc", "application/msword"),
        ("old.xls", OLE_HEADER, "document", "xls", "application/vnd.ms-excel"),
    ],
)
def test_create_accepts_supported_files_by_their_content(user, media_root, name, data, kind, file_format, mime_type):
    attachment = attachment_create(user=user, upload=upload(name, data, content_type="application/x-lies"))

    attachment.refresh_from_db()
    assert (attachment.kind, attachment.format, attachment.mime_type) == (kind, file_format, mime_type)
    assert attachment.name == name
    assert attachment.message is None and attachment.user == user
    assert attachment.size_bytes == len(data)
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_bytes(attachment) == data
    assert name.split(".")[0] not in attachment.file.name  # the key is random, never the client's name
    assert attachment.file.name.endswith(f"{attachment.id.hex}.{file_format}")
    if kind == "image":
        assert (attachment.width, attachment.height) == (40, 30)
    else:
        assert attachment.width is None


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("cat.png", ELF, 415, "unsupported_file_type"),
        ("cat.png", zip_bytes("a.txt"), 415, "unsupported_file_type"),
        ("letter.docx", zip_bytes("a.txt"), 415, "unsupported_file_type"),
        (
            "logo.png",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
            415,
            "unsupported_file_type",
        ),
        ("cat.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 400, "file_type_mismatch"),
        ("report.pdf", image_bytes("PNG"), 400, "file_type_mismatch"),
        ("photo.jpg", image_bytes("PNG"), 400, "file_type_mismatch"),
        ("notes.txt", PDF, 400, "file_type_mismatch"),
        ("sheet.xlsx", DOCX, 400, "file_type_mismatch"),
        ("broken.png", image_bytes("PNG", (200, 200))[:300], 400, "invalid_image"),
        ("empty.txt", b"", 400, "empty_file"),
    ],
)
def test_create_refuses_spoofed_unsupported_and_broken_files(user, media_root, name, data, status, code):
    with pytest.raises(ApplicationError) as excinfo:
        attachment_create(user=user, upload=upload(name, data, content_type="image/png"))

    assert error_of(excinfo) == (status, code)
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_upload_over_the_absolute_cap_is_refused_before_it_is_read(user, settings):
    settings.CHAT_MAX_UPLOAD_BYTES = 1000

    class Unreadable(SimpleUploadedFile):
        def read(self, *args, **kwargs):
            raise AssertionError("an oversized upload must not be read")

    with pytest.raises(ApplicationError) as excinfo:
        attachment_create(user=user, upload=Unreadable("big.pdf", PDF + bytes(2000)))

    assert error_of(excinfo) == (413, "attachment_too_large")
    assert excinfo.value.details == {"max_bytes": 1000}


def test_document_over_the_model_limit_is_413(user, settings):
    set_limits(settings, max_document_bytes=len(PDF) + 10)

    with pytest.raises(ApplicationError) as excinfo:
        attachment_create(user=user, upload=upload("big.pdf", PDF + b"%" * 20))

    assert error_of(excinfo) == (413, "attachment_too_large")
    assert attachment_create(user=user, upload=upload("ok.pdf", PDF)).size_bytes == len(PDF)


def test_an_image_over_the_model_limits_is_shrunk_to_fit_not_refused(user, settings):
    set_limits(settings, max_image_pixels=500, max_image_bytes=50_000)
    data = noisy_png((1000, 600))  # about 1.8 MB and twice too wide

    attachment = attachment_create(user=user, upload=upload("screenshot.png", data))

    stored = stored_bytes(attachment)
    assert max(attachment.width, attachment.height) <= 500
    assert attachment.width / attachment.height == pytest.approx(1000 / 600, rel=0.02)
    assert attachment.size_bytes == len(stored) <= 50_000
    assert attachment.sha256 == hashlib.sha256(stored).hexdigest()
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (attachment.width, attachment.height)
        assert image.format.lower() == attachment.format
    assert attachment.mime_type == f"image/{attachment.format}"


def test_an_image_too_wide_but_light_keeps_its_format(user, settings):
    set_limits(settings, max_image_pixels=500)

    attachment = attachment_create(user=user, upload=upload("wide.png", image_bytes("PNG", (2000, 400))))

    assert (attachment.format, attachment.width, attachment.height) == ("png", 500, 100)


def test_limits_are_the_smallest_over_the_alias_fallback_chain(settings):
    settings.LLM_MODELS = [
        {**model, "max_image_pixels": 300, "max_documents": 2} if "opus" in model["id"] else model
        for model in settings.LLM_MODELS
    ]

    assert attachment_limits(alias="chat-smart").max_image_pixels == 300  # Opus, then Sonnet
    assert attachment_limits(alias="chat-smart").max_documents == 2
    assert attachment_limits().max_image_pixels == 8000  # the default alias has no Opus


def test_unknown_alias_is_a_validation_error(user):
    with pytest.raises(ApplicationError) as excinfo:
        attachment_create(user=user, upload=upload("a.pdf", PDF), alias="no-such-model")

    assert error_of(excinfo) == (400, "unknown_model")


def test_check_reports_what_would_happen_without_storing(user, settings, media_root):
    set_limits(settings, max_image_pixels=500)

    check = attachment_check(upload=upload("big.png", image_bytes("PNG", (900, 100))))

    assert (check.kind, check.format, check.width, check.will_downscale) == ("image", "png", 900, True)
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_claim_attaches_uploads_to_the_message_in_the_given_order(user):
    message = user_message(user)
    first = attachment_create(user=user, upload=upload("a.pdf", PDF))
    second = attachment_create(user=user, upload=upload("b.png", image_bytes()))

    claimed = attachments_claim(user=user, attachment_ids=[second.id, first.id, second.id], message=message)

    assert [a.id for a in claimed] == [second.id, first.id]
    assert set(message.attachments.values_list("id", flat=True)) == {first.id, second.id}
    assert attachments_claim(user=user, attachment_ids=[first.id], message=message)[0].message_id == message.id


def test_claim_of_someone_elses_or_unknown_ids_is_404_and_claims_nothing(user, other_user):
    message = user_message(user)
    mine = attachment_create(user=user, upload=upload("a.pdf", PDF))
    theirs = attachment_create(user=other_user, upload=upload("b.pdf", PDF))
    unknown = uuid.uuid4()

    with pytest.raises(ApplicationError) as excinfo:
        attachments_claim(user=user, attachment_ids=[mine.id, theirs.id, unknown], message=message)

    assert error_of(excinfo) == (404, "attachment_not_found")
    assert excinfo.value.details == {"attachment_ids": [str(theirs.id), str(unknown)]}
    assert not Attachment.objects.filter(message__isnull=False).exists()


def test_claim_refuses_attachments_already_sent_with_another_message(user):
    attachment = attachment_create(user=user, upload=upload("a.pdf", PDF))
    attachments_claim(user=user, attachment_ids=[attachment.id], message=user_message(user))

    with pytest.raises(ApplicationError) as excinfo:
        attachments_claim(user=user, attachment_ids=[attachment.id], message=user_message(user))

    assert error_of(excinfo) == (400, "attachment_already_claimed")


@pytest.mark.parametrize("role_owner", ["assistant", "stranger"])
def test_claim_only_onto_the_users_own_user_message(user, other_user, role_owner):
    message = user_message(user, role=Message.Role.ASSISTANT) if role_owner == "assistant" else user_message(other_user)
    attachment = attachment_create(user=user, upload=upload("a.pdf", PDF))

    with pytest.raises(ApplicationError) as excinfo:
        attachments_claim(user=user, attachment_ids=[attachment.id], message=message)

    assert error_of(excinfo) == (400, "invalid_message")


def test_claim_enforces_the_per_message_counts_including_earlier_claims(user, settings):
    set_limits(settings, max_images=2, max_documents=1)
    message = user_message(user)
    images = [attachment_create(user=user, upload=upload(f"{n}.png", image_bytes())) for n in range(3)]
    documents = [attachment_create(user=user, upload=upload(f"{n}.pdf", PDF)) for n in range(2)]

    with pytest.raises(ApplicationError) as too_many_images:
        attachments_claim(user=user, attachment_ids=[a.id for a in images], message=message)
    with pytest.raises(ApplicationError) as too_many_documents:
        attachments_claim(user=user, attachment_ids=[a.id for a in documents], message=message)
    attachments_claim(user=user, attachment_ids=[images[0].id, images[1].id, documents[0].id], message=message)
    with pytest.raises(ApplicationError) as one_more:
        attachments_claim(user=user, attachment_ids=[images[2].id], message=message)

    assert error_of(too_many_images) == (400, "too_many_attachments")
    assert error_of(too_many_documents) == (400, "too_many_attachments")
    assert error_of(one_more) == (400, "too_many_attachments")
    assert message.attachments.count() == 3


def test_claim_rechecks_sizes_against_the_chats_model(user, settings):
    attachment = attachment_create(user=user, upload=upload("a.pdf", PDF))
    set_limits(settings, max_document_bytes=10)

    with pytest.raises(ApplicationError) as excinfo:
        attachments_claim(user=user, attachment_ids=[attachment.id], message=user_message(user))

    assert error_of(excinfo) == (413, "attachment_too_large")


def test_delete_removes_an_unclaimed_upload_and_its_file(user, media_root, django_capture_on_commit_callbacks):
    attachment = attachment_create(user=user, upload=upload("a.pdf", PDF))
    assert len(stored_files(media_root)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        attachment_delete(user=user, attachment_id=attachment.id)

    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_delete_refuses_foreign_and_claimed_attachments(user, other_user, media_root):
    theirs = attachment_create(user=other_user, upload=upload("b.pdf", PDF))
    sent = attachment_create(user=user, upload=upload("a.pdf", PDF))
    attachments_claim(user=user, attachment_ids=[sent.id], message=user_message(user))

    with pytest.raises(ApplicationError) as foreign:
        attachment_delete(user=user, attachment_id=theirs.id)
    with pytest.raises(ApplicationError) as claimed:
        attachment_delete(user=user, attachment_id=sent.id)

    assert error_of(foreign) == (404, "attachment_not_found")
    assert error_of(claimed) == (409, "attachment_in_use")
    assert Attachment.objects.count() == 2
    assert len(stored_files(media_root)) == 2


def test_purge_deletes_only_old_unclaimed_uploads_and_their_files(user, media_root, django_capture_on_commit_callbacks):
    old_unclaimed = attachment_create(user=user, upload=upload("old.pdf", PDF))
    old_claimed = attachment_create(user=user, upload=upload("sent.pdf", PDF))
    fresh = attachment_create(user=user, upload=upload("new.pdf", PDF))
    attachments_claim(user=user, attachment_ids=[old_claimed.id], message=user_message(user))
    Attachment.objects.filter(id__in=[old_unclaimed.id, old_claimed.id]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    old_path = Path(old_unclaimed.file.path)

    with django_capture_on_commit_callbacks(execute=True):
        purged = attachments_purge_unclaimed(older_than=timedelta(hours=24))

    assert purged == 1
    assert set(Attachment.objects.values_list("id", flat=True)) == {old_claimed.id, fresh.id}
    assert not old_path.exists()
    assert len(stored_files(media_root)) == 2


def test_blocks_carry_the_stored_bytes_and_safe_unique_document_names(user, settings):
    set_limits(settings, max_image_pixels=20)
    image = attachment_create(user=user, upload=upload("photo.png", image_bytes("PNG", (40, 30))))
    first = attachment_create(user=user, upload=upload("Q3 report.pdf", PDF))
    second = attachment_create(user=user, upload=upload("Q3_report.pdf", PDF + b"\n"))

    blocks = attachment_blocks(attachments=[image, first, second])

    assert blocks == [
        ImageBlock(format="png", data=stored_bytes(image)),
        DocumentBlock(format="pdf", name="Q3 report", data=PDF),
        DocumentBlock(format="pdf", name="Q3 report (2)", data=PDF + b"\n"),
    ]
    assert Image.open(io.BytesIO(blocks[0].data)).size == (20, 15)  # the shrunk image, as stored


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Q3 report.pdf", "Q3 report"),
        ("my_notes.v2.final.md", "my notes v2 final"),
        ("Résumé (draft) [v1].docx", "Resume (draft) [v1]"),
        ("a   b\t\tc.txt", "a b c"),
        ("../../etc/passwd", "passwd"),
        ("预算.xlsx", "document"),
        (".env", "env"),
        ("x" * 300 + ".pdf", "x" * 200),
    ],
)
def test_converse_document_name_keeps_only_what_bedrock_accepts(name, expected):
    assert converse_document_name(name) == expected
