"""Sharing and importing over real HTTP (uvicorn): a streamed chat is shared, read anonymously,
revoked; exported with its files and imported by another user; a malformed upload is refused."""

from __future__ import annotations

import json

import httpx

from chat.models import Attachment, Chat
from tests.sse import headers, stream_events


def test_a_streamed_chat_is_shared_read_without_an_account_and_revoked(live, alice, emulator):
    _, token = alice
    events = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "Tides, please"})
    chat_id = events[0].data["chat_id"]
    answer = "".join(e.data["text"] for e in events if e.event == "delta")

    with httpx.Client(base_url=live.url, timeout=30) as client:
        created = client.post(
            "/api/v1/chat/shares/", json={"chat_id": chat_id, "expires_in_days": 7}, headers=headers(token)
        )
        assert created.status_code == 201, created.text
        share = created.json()
        anonymous = httpx.Client(timeout=30)
        shared = anonymous.get(share["api_url"])
        page = anonymous.get(share["url"], headers={"Accept-Language": "de-DE,de;q=0.9"})
        revoked = client.delete(f"/api/v1/chat/shares/{share['id']}/", headers=headers(token))
        after = anonymous.get(share["api_url"])
        anonymous.close()

    assert shared.status_code == 200
    assert [m["text"] for m in shared.json()["messages"]] == ["Tides, please", answer]
    assert "alice" not in shared.text
    assert shared.headers["x-robots-tag"].startswith("noindex")
    assert page.status_code == 200 and "Geteilter Chat" in page.text and answer in page.text
    assert page.headers["content-language"] == "de"
    assert revoked.json()["state"] == "revoked"
    assert (after.status_code, after.json()["error"]["code"]) == (410, "share_revoked")


def test_an_export_with_files_is_imported_by_another_user_and_a_broken_file_is_refused(live, alice, bob, emulator):
    _, alice_token = alice
    bob_user, bob_token = bob
    with httpx.Client(base_url=live.url, timeout=30) as client:
        upload = client.post(
            "/api/v1/chat/attachments/",
            files={"file": ("notes.txt", b"meeting at nine", "text/plain")},
            headers=headers(alice_token),
        )
        assert upload.status_code == 201, upload.text
        events = stream_events(
            live,
            "POST",
            "/api/v1/chat/messages/",
            alice_token,
            json_body={"content": "Summarise the notes", "attachments": [upload.json()["id"]]},
        )
        chat_id = events[0].data["chat_id"]
        export = client.get(f"/api/v1/chat/chats/{chat_id}/export/?files=embed", headers=headers(alice_token))
        imported = client.post(
            "/api/v1/chat/import/",
            files={"file": ("chat.json", export.content, "application/json")},
            headers=headers(bob_token),
        )
        broken = json.loads(export.content)
        broken["pairs"][0]["assistant"]["usage"]["output_tokens"] = -5
        refused = client.post(
            "/api/v1/chat/import/",
            files={"file": ("chat.json", json.dumps(broken).encode(), "application/json")},
            headers=headers(bob_token),
        )

    assert imported.status_code == 201, imported.text
    assert imported.json()["attachments_restored"] == 1
    [copy] = Chat.objects.filter(user=bob_user)
    [restored] = Attachment.objects.filter(message__pair__chat=copy)
    assert restored.user_id == bob_user.pk and restored.file.open("rb").read() == b"meeting at nine"
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["path"] == "pairs[0].assistant.usage.output_tokens"
    assert Chat.objects.filter(user=bob_user).count() == 1
