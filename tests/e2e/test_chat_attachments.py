"""Attachments travel from the client to the model as Converse image and document blocks."""

from __future__ import annotations

import base64
import io

import httpx
from PIL import Image

from chat.models import Attachment
from tests.sse import headers, parse_sse


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def last_stream_request(emulator):
    return [r for r in emulator.requests() if r["operation"] == "converse-stream"][-1]["body"]


def test_files_sent_with_a_message_reach_the_model_as_image_and_document_blocks(live, alice, emulator):
    _, token = alice
    image = png_bytes()
    document = b"Quarterly numbers: revenue up 12 percent.\n"

    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream(
            "POST",
            "/api/v1/chat/messages/",
            data={"content": "[[emu:tokens=3]] What is in these?"},
            files=[("files", ("chart.png", image, "image/png")), ("files", ("notes.txt", document, "text/plain"))],
            headers=headers(token),
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        events = list(parse_sse(response.iter_lines()))

    assert events[-1].event == "message_stop"
    content = last_stream_request(emulator)["messages"][-1]["content"]
    assert base64.b64decode(content[0]["image"]["source"]["bytes"]) == image
    assert content[0]["image"]["format"] == "png"
    assert base64.b64decode(content[1]["document"]["source"]["bytes"]) == document
    assert content[1]["document"]["format"] == "txt"
    assert content[-1] == {"text": "[[emu:tokens=3]] What is in these?"}
    assert Attachment.objects.filter(message_id=events[0].data["user_message_id"]).count() == 2


def test_files_uploaded_beforehand_are_attached_by_id(live, alice, emulator):
    _, token = alice
    with httpx.Client(base_url=live.url, timeout=30) as client:
        upload = client.post(
            "/api/v1/chat/attachments/", files={"file": ("pic.png", png_bytes(), "image/png")}, headers=headers(token)
        )
        assert upload.status_code == 201, upload.text
        with client.stream(
            "POST",
            "/api/v1/chat/messages/",
            json={"content": "[[emu:tokens=2]] describe", "attachments": [upload.json()["id"]]},
            headers=headers(token),
        ) as response:
            events = list(parse_sse(response.iter_lines()))

    assert events[-1].event == "message_stop"
    assert "image" in last_stream_request(emulator)["messages"][-1]["content"][0]


def test_a_spoofed_file_is_refused_and_nothing_is_accepted(live, alice):
    _, token = alice
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post(
            "/api/v1/chat/messages/",
            data={"content": "look"},
            files=[("files", ("photo.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "image/png"))],
            headers=headers(token),
        )

    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert not Attachment.objects.exists()


def test_another_users_attachment_cannot_be_attached(live, alice, bob):
    _, alice_token = alice
    _, bob_token = bob
    with httpx.Client(base_url=live.url, timeout=30) as client:
        upload = client.post(
            "/api/v1/chat/attachments/",
            files={"file": ("pic.png", png_bytes(), "image/png")},
            headers=headers(alice_token),
        )
        response = client.post(
            "/api/v1/chat/messages/",
            json={"content": "mine now", "attachments": [upload.json()["id"]]},
            headers=headers(bob_token),
        )

    assert response.status_code == 404
