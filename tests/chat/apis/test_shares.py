"""Shared chats over HTTP: the owner shares, anyone with the link reads, the owner revokes.

Through the whole URL configuration and middleware stack (the public endpoints sit outside
/api/v1/chat/), against PostgreSQL and the cache.
"""

from __future__ import annotations

import datetime
import hashlib
import re

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from chat.models import Chat, ChatShare, Message
from tests.chat.factories import AttachmentFactory, ChatFactory, linear_chat, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/chat"


@pytest.fixture
def owner():
    return UserFactory(email="owner.person@example.com", first_name="Olivia", last_name="Owner")


@pytest.fixture
def client(owner):
    api_client = APIClient()
    api_client.force_authenticate(owner)
    return api_client


@pytest.fixture
def anonymous():
    return Client()


def _share(client, chat, **body):
    response = client.post(f"{API}/shares/", {"chat_id": str(chat.id), **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_shared_snapshot_is_readable_by_anyone_without_the_owners_identity(client, owner, anonymous):
    chat, pairs = linear_chat(turns=2, user=owner, system_prompt="secret system prompt")

    created = _share(client, chat)
    response = anonymous.get(f"/api/v1/shared/{created['token']}/")

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == chat.title
    assert [(m["role"], m["text"]) for m in body["messages"]] == [
        ("user", "question 0"),
        ("assistant", "answer 0"),
        ("user", "question 1"),
        ("assistant", "answer 1"),
    ]
    assert body["messages"][1]["model"] == "us.anthropic.claude-sonnet-4-6"
    raw = response.content.decode()
    for private in (owner.email, "Olivia", "Owner", str(owner.pk), str(chat.id), "secret system prompt"):
        assert private not in raw
    for pair in pairs:
        assert str(pair.id) not in raw
    assert response["X-Robots-Tag"].startswith("noindex")
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert created["url"].endswith(f"/shared/{created['token']}/")
    assert created["state"] == "active" and created["message_count"] == 4


def test_the_token_is_unguessable_and_stored_only_as_a_hash(client, owner):
    chat, _ = linear_chat(turns=1, user=owner)

    first, second = _share(client, chat), _share(client, chat)

    assert first["token"] != second["token"] and len(first["token"]) >= 43  # 32 random bytes
    share = ChatShare.objects.get(id=first["id"])
    assert share.token_hash == hashlib.sha256(first["token"].encode()).hexdigest()
    assert first["token"] not in str(ChatShare.objects.filter(id=share.id).values().first())
    listed = client.get(f"{API}/shares/", {"chat": str(chat.id)}).json()["results"]
    assert {item["id"] for item in listed} == {first["id"], second["id"]}
    assert all("token" not in item for item in listed)
    assert listed[0]["token_hint"] == second["token"][:6]


def test_later_edits_do_not_change_what_was_shared(client, owner, anonymous):
    chat, pairs = linear_chat(turns=1, user=owner)
    created = _share(client, chat)

    # The owner continues on another branch and edits the shared answer.
    turn(chat, pairs[0], user_text="a private follow-up", assistant_text="private")
    Message.objects.filter(pair=pairs[0], role="assistant").update(text="rewritten")
    Chat.objects.filter(id=chat.id).update(title="Renamed")

    body = anonymous.get(f"/api/v1/shared/{created['token']}/").json()

    assert body["title"] == chat.title
    assert [m["text"] for m in body["messages"]] == ["question 0", "answer 0"]


def test_only_the_active_branch_is_shared(client, owner, anonymous):
    chat = ChatFactory(user=owner)
    root = turn(chat, user_text="root question")
    turn(chat, root, user_text="abandoned version", activate=False)
    active = turn(chat, root, user_text="chosen version")
    assert Chat.objects.get(id=chat.id).active_leaf_id == active.id

    body = anonymous.get(f"/api/v1/shared/{_share(client, chat)['token']}/").json()

    assert [m["text"] for m in body["messages"] if m["role"] == "user"] == ["root question", "chosen version"]


def test_a_revoked_link_is_gone_at_once_for_the_api_the_page_and_its_files(client, owner, anonymous):
    chat, pairs = linear_chat(turns=1, user=owner)
    AttachmentFactory(message=Message.objects.get(pair=pairs[0], role="user"))
    created = _share(client, chat, include_attachments=True)
    file_url = anonymous.get(f"/api/v1/shared/{created['token']}/").json()["messages"][0]["attachments"][0][
        "download_url"
    ]
    assert anonymous.get(file_url).status_code == 200

    revoked = client.delete(f"{API}/shares/{created['id']}/")

    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    api = anonymous.get(f"/api/v1/shared/{created['token']}/")
    assert api.status_code == 410
    assert api.json()["error"]["code"] == "share_revoked"
    page = anonymous.get(f"/shared/{created['token']}/")
    assert page.status_code == 410
    assert "The owner stopped sharing this chat." in page.content.decode()
    assert "answer 0" not in page.content.decode()
    assert anonymous.get(file_url).status_code == 410
    again = client.delete(f"{API}/shares/{created['id']}/")  # idempotent
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_an_expired_link_is_gone(client, owner, anonymous):
    chat, _ = linear_chat(turns=1, user=owner)
    created = _share(client, chat, expires_in_days=1)
    assert created["expires_at"] is not None
    ChatShare.objects.filter(id=created["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    api = anonymous.get(f"/api/v1/shared/{created['token']}/")
    page = anonymous.get(f"/shared/{created['token']}/", HTTP_ACCEPT_LANGUAGE="de")

    assert (api.status_code, api.json()["error"]["code"]) == (410, "share_expired")
    assert page.status_code == 410
    assert "Dieser geteilte Link ist abgelaufen." in page.content.decode()
    assert client.get(f"{API}/shares/{created['id']}/").json()["state"] == "expired"


@pytest.mark.parametrize("token", ["unknown-token", "x" * 65, "%00"])
def test_an_unknown_link_is_not_found_in_the_error_shape(anonymous, token):
    response = anonymous.get(f"/api/v1/shared/{token}/")
    page = anonymous.get(f"/shared/{token}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "share_not_found"
    assert page.status_code == 404 and 'content="noindex' in page.content.decode()


def test_attachments_are_shared_only_when_the_owner_includes_them(client, owner, anonymous):
    chat, pairs = linear_chat(turns=1, user=owner)
    AttachmentFactory(message=Message.objects.get(pair=pairs[0], role="user"), name="plan.txt")

    without = anonymous.get(f"/api/v1/shared/{_share(client, chat)['token']}/").json()
    created = _share(client, chat, include_attachments=True)
    with_files = anonymous.get(f"/api/v1/shared/{created['token']}/").json()

    assert without["messages"][0]["attachments"] == []
    (shared_file,) = with_files["messages"][0]["attachments"]
    assert shared_file["name"] == "plan.txt" and "id" not in shared_file
    download = anonymous.get(shared_file["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    # The URL is signed for this share and file: a changed or missing signature opens nothing.
    unsigned = shared_file["download_url"].split("?")[0]
    assert anonymous.get(unsigned).status_code == 404
    assert anonymous.get(unsigned + "?s=abc:def").json()["error"]["code"] == "attachment_link_invalid"


def test_a_text_only_share_serves_no_file_even_with_a_signature_of_another_share(client, owner, anonymous):
    chat, pairs = linear_chat(turns=1, user=owner)
    attachment = AttachmentFactory(message=Message.objects.get(pair=pairs[0], role="user"))
    with_files = _share(client, chat, include_attachments=True)
    text_only = _share(client, chat)
    signed = anonymous.get(f"/api/v1/shared/{with_files['token']}/").json()["messages"][0]["attachments"][0]
    signature = signed["download_url"].split("?s=")[1]

    response = anonymous.get(f"/api/v1/shared/{text_only['token']}/attachments/{attachment.id}/?s={signature}")

    assert response.status_code == 404


def test_the_page_is_escaped_noindexed_translated_and_scriptless(client, owner, anonymous):
    chat = ChatFactory(user=owner, title="<b>Title</b>")
    turn(chat, user_text='<script>alert("x")</script>', assistant_text="1 < 2 & 3")
    created = _share(client, chat)

    page = anonymous.get(f"/shared/{created['token']}/?lang=fr")

    html = page.content.decode()
    assert page.status_code == 200
    assert "<script>" not in html and "&lt;script&gt;" in html and "1 &lt; 2 &amp; 3" in html
    assert "&lt;b&gt;Title&lt;/b&gt;" in html
    assert '<meta name="robots" content="noindex' in html and page["X-Robots-Tag"].startswith("noindex")
    assert "Conversation partagée" in html and 'lang="fr"' in html
    csp = page["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<style nonce="{nonce}">' in html
    assert owner.email not in html


@pytest.mark.parametrize("lang", ["en", "de", "fr"])
def test_the_page_says_when_it_was_shared_in_one_sentence(client, owner, anonymous, lang):
    """The date reads as the end of the sentence (a time ending in "p.m." doubled its period)."""
    chat = ChatFactory(user=owner)
    turn(chat, user_text="q", assistant_text="a")

    html = anonymous.get(f"/shared/{_share(client, chat)['token']}/?lang={lang}").content.decode()

    note = re.search(r'<p class="note">(.*?)</p>', html, re.DOTALL).group(1).strip()
    assert note.endswith(".") and ".." not in note


def test_owner_scoping_foreign_ids_are_not_found(client, anonymous):
    stranger = UserFactory()
    foreign_chat, _ = linear_chat(turns=1, user=stranger)
    stranger_client = APIClient()
    stranger_client.force_authenticate(stranger)
    foreign_share = _share(stranger_client, foreign_chat)

    assert client.post(f"{API}/shares/", {"chat_id": str(foreign_chat.id)}, format="json").status_code == 404
    assert client.get(f"{API}/shares/{foreign_share['id']}/").status_code == 404
    assert client.delete(f"{API}/shares/{foreign_share['id']}/").status_code == 404
    assert client.get(f"{API}/shares/").json()["results"] == []
    assert anonymous.get(f"/api/v1/shared/{foreign_share['token']}/").status_code == 200  # still shared
    assert APIClient().get(f"{API}/shares/").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"chat_id": "not-a-uuid"},
        {"chat_id": None},
        {"chat_id": "<chat>", "expires_in_days": 0},
        {"chat_id": "<chat>", "expires_in_days": "soon"},
        {"chat_id": "<chat>", "include_attachments": "maybe"},
    ],
)
def test_invalid_share_requests_are_400(client, owner, body):
    chat, _ = linear_chat(turns=1, user=owner)
    payload = {key: str(chat.id) if value == "<chat>" else value for key, value in body.items()}

    response = client.post(f"{API}/shares/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_an_empty_chat_cannot_be_shared(client, owner):
    response = client.post(f"{API}/shares/", {"chat_id": str(ChatFactory(user=owner).id)}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "nothing_to_share")


def test_deleting_the_chat_ends_its_shares(client, owner, anonymous):
    chat, _ = linear_chat(turns=1, user=owner)
    created = _share(client, chat)

    assert client.delete(f"{API}/chats/{chat.id}/").status_code == 204

    assert anonymous.get(f"/api/v1/shared/{created['token']}/").status_code == 404


def test_public_reads_are_rate_limited_per_ip(client, owner, anonymous, settings):
    settings.CHAT_SHARE_RATE_IP = "2/m"
    chat, _ = linear_chat(turns=1, user=owner)
    token = _share(client, chat)["token"]

    statuses = [anonymous.get(f"/api/v1/shared/{token}/").status_code for _ in range(2)]
    limited = anonymous.get(f"/api/v1/shared/{token}/")
    page = anonymous.get(f"/shared/{token}/")

    assert statuses == [200, 200]
    assert limited.status_code == 429 and "Retry-After" in limited
    assert page.status_code == 429


def test_staff_can_revoke_a_share_in_the_admin_without_seeing_its_token(client, owner, anonymous):
    chat, _ = linear_chat(turns=1, user=owner)
    created = _share(client, chat)
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    share = ChatShare.objects.get(id=created["id"])

    page = staff.get(f"/admin/chat/chatshare/{share.id}/change/")
    revoked = staff.post(
        "/admin/chat/chatshare/", {"action": "revoke", "_selected_action": [str(share.id)]}, follow=True
    )

    assert page.status_code == 200 and share.token_hash not in page.content.decode()
    assert revoked.status_code == 200 and "1 shared link(s) revoked." in revoked.content.decode()
    assert anonymous.get(f"/api/v1/shared/{created['token']}/").status_code == 410


@pytest.mark.parametrize("shares", [2, 12])
def test_the_share_list_query_count_does_not_grow_with_the_page(client, owner, shares, django_assert_num_queries):
    chat, _ = linear_chat(turns=1, user=owner)
    for _ in range(shares):
        _share(client, chat)

    with django_assert_num_queries(1):  # one page of shares (cursor pagination: no count)
        response = client.get(f"{API}/shares/", {"page_size": 50})

    assert len(response.json()["results"]) == shares
