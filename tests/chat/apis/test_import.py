"""Importing exports over the API: `POST /api/v1/chat/import/` (multipart), all or nothing, never a 500."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from chat.models import Attachment, Chat, Message
from chat.services.export import chat_export_json
from tests.chat.factories import AttachmentFactory, ChatFactory, ProjectFactory, linear_chat, turn
from tests.chat.services.test_export import normalised
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(user):
    api_client = APIClient()
    api_client.force_authenticate(user)
    return api_client


def _upload(client, content, *, name="export.json", **fields):
    if not isinstance(content, bytes):
        content = json.dumps(content).encode()
    return client.post(f"{API}/import/", {"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


def _source_chat():
    """A branched chat of another user, with a text file and an image attached."""
    chat, pairs = linear_chat(turns=2, title="Source", system_prompt="Be exact.")
    turn(chat, pairs[0], user_text="another version", activate=False)
    user_message = Message.objects.get(pair=pairs[0], role="user")
    AttachmentFactory(message=user_message, name="notes.txt")
    AttachmentFactory(
        message=user_message,
        name="pixel.png",
        kind="image",
        format="png",
        mime_type="image/png",
        file=SimpleUploadedFile("pixel.png", PNG),
        size_bytes=len(PNG),
        width=1,
        height=1,
        sha256=hashlib.sha256(PNG).hexdigest(),
    )
    chat.refresh_from_db()
    return chat


def _attachment_contents(chat):
    return sorted(
        (attachment.name, attachment.file.open("rb").read())
        for attachment in Attachment.objects.filter(message__pair__chat=chat)
    )


def test_an_export_with_embedded_files_round_trips_through_the_api(client, user):
    source = _source_chat()
    source_client = APIClient()
    source_client.force_authenticate(source.user)
    exported = source_client.get(f"{API}/chats/{source.id}/export/", {"files": "embed"})
    assert exported.status_code == 200

    response = _upload(client, exported.content)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["pairs"], body["messages"], body["attachments_restored"], body["attachments_skipped"]) == (3, 6, 2, 0)
    [copy_id] = body["chat_ids"]
    imported = Chat.objects.get(id=copy_id, user=user)
    assert _attachment_contents(imported) == [("notes.txt", b"hello"), ("pixel.png", PNG)]
    assert Attachment.objects.filter(message__pair__chat=imported, user=user).count() == 2

    def without_file_ids(document):
        for pair in document["pairs"]:
            for role in ("user", "assistant"):
                for attachment in (pair[role] or {}).get("attachments", []):
                    attachment["id"] = None
        return normalised(document)

    assert without_file_ids(chat_export_json(chat=imported)) == without_file_ids(chat_export_json(chat=source))


def test_an_export_without_file_contents_imports_the_text_and_counts_the_files(client, user):
    source = _source_chat()

    response = _upload(client, [chat_export_json(chat=source), chat_export_json(chat=source)])

    assert response.status_code == 201
    body = response.json()
    assert len(body["chat_ids"]) == 2 and body["attachments_skipped"] == 4 and body["attachments_restored"] == 0
    assert Chat.objects.filter(user=user).count() == 2


def test_chats_go_into_the_users_own_project_only(client, user):
    document = chat_export_json(chat=_source_chat())
    project = ProjectFactory(user=user)

    own = _upload(client, document, project_id=str(project.id))
    foreign = _upload(client, document, project_id=str(ProjectFactory().id))

    assert own.status_code == 201
    assert Chat.objects.get(id=own.json()["chat_ids"][0]).project_id == project.id
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "project_not_found")


def _valid_document():
    return chat_export_json(chat=_source_chat(), embed_files=True)


def _broken(change):
    def make():
        document = copy.deepcopy(_valid_document())
        change(document)
        return document

    return make


def _set(path, value):
    def change(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


MALFORMED = {
    "wrong format": (_set(["format"], "other.app"), "format"),
    "future version": (_set(["version"], 2), "version"),
    "chat is a list": (_set(["chat"], []), "chat"),
    "pairs is an object": (_set(["pairs"], {}), "pairs"),
    "text is a number": (_set(["pairs", 0, "user", "text"], 42), "pairs[0].user.text"),
    "NUL in text": (_set(["pairs", 0, "assistant", "text"], "a\x00b"), "pairs[0].assistant.text"),
    "negative tokens": (_set(["pairs", 0, "assistant", "usage", "input_tokens"], -1), "input_tokens"),
    "tokens as text": (_set(["pairs", 0, "assistant", "usage", "output_tokens"], "many"), "output_tokens"),
    "cost not a number": (_set(["pairs", 0, "assistant", "cost"], "free"), "pairs[0].assistant.cost"),
    "cost infinite": (_set(["pairs", 0, "assistant", "cost"], "Infinity"), "pairs[0].assistant.cost"),
    "impossible date": (_set(["pairs", 0, "created_at"], "2026-13-45T10:00:00Z"), "pairs[0].created_at"),
    "unknown status": (_set(["pairs", 0, "assistant", "status"], "exploded"), "pairs[0].assistant.status"),
    "flag as text": (_set(["chat", "archived"], "yes"), "chat.archived"),
    "repeated pair id": (lambda d: d["pairs"].append(copy.deepcopy(d["pairs"][0])), "pairs[3].id"),
    "missing parent": (_set(["pairs", 1, "parent_id"], "nowhere"), "pairs[1].parent_id"),
    "parent cycle": (lambda d: d["pairs"][0].update(parent_id=d["pairs"][1]["id"]), "pairs"),
    "attachments not a list": (_set(["pairs", 0, "user", "attachments"], "x"), "pairs[0].user.attachments"),
    "bad base64": (_set(["pairs", 0, "user", "attachments", 0, "content_base64"], "***"), "content_base64"),
    "checksum mismatch": (_set(["pairs", 0, "user", "attachments", 0, "sha256"], "0" * 64), "sha256"),
    "model id too long": (_set(["pairs", 0, "assistant", "model_id"], "m" * 500), "model_id"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_export_is_a_400_naming_the_place_and_imports_nothing(client, user, case):
    change, where = MALFORMED[case]
    document = _broken(change)()
    files_before = Attachment.objects.count()

    response = _upload(client, document)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_export"
    assert where in error["details"]["path"]
    assert not Chat.objects.filter(user=user).exists()
    assert Attachment.objects.count() == files_before


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_export"),
        (b"\xff\xfe\x00garbage", 400, "invalid_export"),
        (b"", 400, "invalid"),  # DRF: the submitted file is empty
        (b"   \n", 400, "invalid_export"),
        (b"[]", 400, "invalid_export"),
        (b'"just a string"', 400, "invalid_export"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_export"),
        (PNG, 415, "unsupported_export_type"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", 415, "unsupported_export_type"),
    ],
    ids=["not-json", "not-utf8", "empty", "blank", "empty-list", "string", "deep-nesting", "png", "pdf"],
)
def test_files_that_are_not_exports_are_refused_in_the_error_shape(client, user, content, status, code):
    response = _upload(client, content)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not Chat.objects.filter(user=user).exists()


def test_an_embedded_file_an_upload_would_refuse_rolls_back_the_whole_file(client, user):
    good = _valid_document()
    bad = copy.deepcopy(good)
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
    bad["pairs"][0]["user"]["attachments"][0].update(
        content_base64=base64.b64encode(elf).decode(), sha256=hashlib.sha256(elf).hexdigest(), name="tool.txt"
    )
    rows_before = set(Attachment.objects.values_list("file", flat=True))
    files_before = _stored_files()

    response = _upload(client, [good, bad])

    assert response.status_code == 400
    assert response.json()["error"]["details"]["path"] == "attachment 'tool.txt'"
    assert not Chat.objects.filter(user=user).exists()
    assert set(Attachment.objects.values_list("file", flat=True)) == rows_before
    # The files of the first chat, stored before the failure, were deleted again.
    assert _stored_files() == files_before


def _stored_files():
    storage = Attachment._meta.get_field("file").storage
    found, pending = set(), ["chat/attachments"]
    while pending:
        directory = pending.pop()
        if not storage.exists(directory):
            continue
        directories, names = storage.listdir(directory)
        pending += [f"{directory}/{name}" for name in directories]
        found |= {f"{directory}/{name}" for name in names}
    return found


def test_the_file_size_and_counts_are_bounded(client, user, settings):
    document = chat_export_json(chat=_source_chat())
    raw = json.dumps(document).encode()

    settings.CHAT_IMPORT_MAX_BYTES = len(raw) - 1
    too_large = _upload(client, raw)
    settings.CHAT_IMPORT_MAX_BYTES = len(raw) * 10
    settings.CHAT_IMPORT_MAX_CHATS = 2
    too_many_chats = _upload(client, [document] * 3)
    settings.CHAT_IMPORT_MAX_PAIRS = 5
    too_many_pairs = _upload(client, [document] * 2)  # 3 turns each

    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "import_too_large")
    assert too_many_chats.status_code == too_many_pairs.status_code == 400
    assert "more than 2 chats" in too_many_chats.json()["error"]["details"]["reason"]
    assert "more than 5 turns" in too_many_pairs.json()["error"]["details"]["reason"]
    assert not Chat.objects.filter(user=user).exists()


def test_import_needs_an_account_and_a_file(client):
    assert APIClient().post(f"{API}/import/", {}, format="multipart").status_code == 401
    missing = client.post(f"{API}/import/", {}, format="multipart")
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "invalid")
    as_json = client.post(f"{API}/import/", {"file": "x"}, format="json")
    assert as_json.status_code == 415


def test_a_streaming_answer_in_the_export_comes_back_interrupted(client, user):
    chat = ChatFactory()
    turn(chat, status=Message.Status.STREAMING, assistant_text="half an ans")
    chat.refresh_from_db()

    response = _upload(client, chat_export_json(chat=chat))

    assert response.status_code == 201
    answer = Message.objects.get(pair__chat_id=response.json()["chat_ids"][0], role="assistant")
    assert (answer.status, answer.text) == (Message.Status.INTERRUPTED, "half an ans")
