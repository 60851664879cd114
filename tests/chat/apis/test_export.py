"""Export API: JSON (whole tree) and Markdown (active branch) downloads."""

from __future__ import annotations

import pytest

from chat.models import Message
from tests.chat.factories import AttachmentFactory, ChatFactory, ProjectFactory, turn
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"


@pytest.fixture
def chat(user):
    chat = ChatFactory(user=user, title="Trip to Rome", project=ProjectFactory(user=user, name="Travel"))
    root = turn(chat, user_text="Plan a day in Rome", assistant_text="Start at the Colosseum.")
    AttachmentFactory(
        message=Message.objects.get(pair=root, role="user"), name="map.pdf", format="pdf", size_bytes=1234
    )
    turn(chat, root, user_text="Cheaper please", assistant_text="Walk everywhere.", activate=False)
    turn(chat, root, user_text="Faster please", assistant_text="Take the metro", status=Message.Status.ERROR)
    Message.objects.filter(text="Take the metro").update(error_code="throttled")
    chat.refresh_from_db()
    return chat


def test_json_export_holds_the_whole_tree(client, chat):
    response = client.get(f"{API}/chats/{chat.id}/export/", {"format": "json"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="chat-trip-to-rome-')
    document = response.json()
    assert document["format"] == "aiassistant.chat"
    assert document["chat"]["project_name"] == "Travel"
    assert len(document["pairs"]) == 3
    root, *versions = document["pairs"]
    assert root["parent_id"] is None
    assert {pair["parent_id"] for pair in versions} == {root["id"]}
    assert root["user"]["attachments"][0] | {"id": None} == {
        "id": None,
        "name": "map.pdf",
        "kind": "document",
        "format": "pdf",
        "mime_type": "text/plain",
        "size_bytes": 1234,
        "width": None,
        "height": None,
        "sha256": root["user"]["attachments"][0]["sha256"],
    }
    assert root["assistant"]["usage"] == {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert {pair["assistant"]["status"] for pair in versions} == {"complete", "error"}


def test_json_is_the_default_format(client, chat):
    response = client.get(f"{API}/chats/{chat.id}/export/")

    assert response.status_code == 200
    assert response.json()["chat"]["title"] == "Trip to Rome"


def test_markdown_export_is_the_active_branch(client, chat):
    response = client.get(f"{API}/chats/{chat.id}/export/", {"format": "md"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].endswith('.md"')
    text = response.content.decode()
    assert text.startswith("# Trip to Rome\n")
    assert "- Project: Travel" in text
    assert "Plan a day in Rome" in text
    assert "Faster please" in text
    assert "Cheaper please" not in text  # another branch
    assert "- Attachment: map.pdf (document, pdf, 1234 bytes)" in text
    assert "_(answer error: throttled)_" in text


def test_unknown_export_format_is_a_400(client, chat):
    response = client.get(f"{API}/chats/{chat.id}/export/", {"format": "pdf"})

    assert_error(response, 400, "invalid")
