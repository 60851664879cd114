"""Tools can be switched off per chat and per project."""

from __future__ import annotations

import pytest

from tests.chat.factories import ChatFactory, ProjectFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/chat"


def test_tools_are_switched_off_and_on_per_chat_and_per_project(user, client):
    chat, project = ChatFactory(user=user), ProjectFactory(user=user)

    assert client.get(f"{API}/chats/{chat.id}/").json()["tools_enabled"] is True
    assert client.patch(f"{API}/chats/{chat.id}/", {"tools_enabled": False}, format="json").status_code == 200
    assert client.patch(f"{API}/projects/{project.id}/", {"tools_enabled": False}, format="json").status_code == 200

    assert client.get(f"{API}/chats/{chat.id}/").json()["tools_enabled"] is False
    assert client.get(f"{API}/projects/{project.id}/").json()["tools_enabled"] is False
    bad = client.patch(f"{API}/chats/{chat.id}/", {"tools_enabled": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"]
