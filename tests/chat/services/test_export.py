"""Export and import services: the JSON document, Markdown, and the import's guarantees."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from backend.errors import ValidationFailed
from chat.models import Chat, Message, MessagePair
from chat.services.export import chat_export_json, chat_export_markdown
from chat.services.imports import chat_import
from tests.chat.factories import ChatFactory, ProjectFactory, SavedSystemPromptFactory, linear_chat, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def normalised(document):
    """The export without ids, export time and database timestamps: what must survive a round trip."""
    id_map = {}

    def alias(value):
        return None if value is None else id_map.setdefault(value, f"#{len(id_map)}")

    pairs = []
    for pair in document["pairs"]:
        pairs.append(
            {
                **pair,
                "id": alias(pair["id"]),
                "parent_id": alias(pair["parent_id"]),
                "user": pair["user"] and {**pair["user"], "id": None},
                "assistant": pair["assistant"] and {**pair["assistant"], "id": None},
            }
        )
    chat = {**document["chat"], "id": None, "active_leaf_id": alias(document["chat"]["active_leaf_id"])}
    return {**document, "exported_at": None, "chat": chat, "pairs": pairs}


def _rich_chat():
    user = UserFactory()
    chat = ChatFactory(user=user, title="Rich", system_prompt="Be exact.", model="fast", incognito=True)
    base = timezone.now() - datetime.timedelta(days=3)
    root = turn(chat, user_text="one", created_at=base)
    turn(chat, root, user_text="two a", created_at=base + datetime.timedelta(minutes=1))
    active = turn(
        chat, root, user_text="two b", status=Message.Status.ERROR, created_at=base + datetime.timedelta(minutes=2)
    )
    MessagePair.objects.filter(id=root.id).update(hidden=True)
    Message.objects.filter(pair=active, role="assistant").update(error_code="throttled", error_message="slow down")
    chat.refresh_from_db()
    return chat


def test_import_round_trips_the_export():
    chat = _rich_chat()
    exported = chat_export_json(chat=chat)

    result = chat_import(user=UserFactory(), data=exported)

    [imported] = result.chats
    assert imported.id != chat.id
    assert (result.pairs, result.messages) == (3, 6)
    assert normalised(chat_export_json(chat=imported)) == normalised(exported)


def test_import_never_reuses_ids():
    chat = _rich_chat()
    exported = chat_export_json(chat=chat)

    imported = chat_import(user=chat.user, data=[exported, exported]).chats

    original_pairs = set(MessagePair.objects.filter(chat=chat).values_list("id", flat=True))
    for copy in imported:
        assert not original_pairs & set(MessagePair.objects.filter(chat=copy).values_list("id", flat=True))
    assert len({copy.id for copy in imported}) == 2


def test_import_keeps_timestamps():
    chat = _rich_chat()
    exported = chat_export_json(chat=chat)

    [imported] = chat_import(user=chat.user, data=exported).chats

    assert imported.created_at == chat.created_at
    first_pair = MessagePair.objects.filter(chat=imported, depth=0).get()
    assert first_pair.created_at == MessagePair.objects.get(chat=chat, depth=0).created_at


def test_import_turns_streaming_answers_into_interrupted():
    chat, [pair] = linear_chat(turns=1)
    Message.objects.filter(pair=pair, role="assistant").update(status=Message.Status.STREAMING, text="partial")
    exported = chat_export_json(chat=chat)

    [imported] = chat_import(user=chat.user, data=exported).chats

    assistant = Message.objects.get(pair__chat=imported, role="assistant")
    assert (assistant.status, assistant.text) == ("interrupted", "partial")


def test_import_into_a_project():
    chat = _rich_chat()
    project = ProjectFactory(user=chat.user)

    [imported] = chat_import(user=chat.user, data=chat_export_json(chat=chat), project=project).chats

    assert imported.project == project


def test_import_refuses_another_users_project():
    chat = _rich_chat()

    with pytest.raises(ValidationFailed):
        chat_import(user=chat.user, data=chat_export_json(chat=chat), project=ProjectFactory())


@pytest.mark.parametrize(
    "data",
    [
        {"format": "something-else", "version": 1},
        {"format": "aiassistant.chat", "version": 99},
        [{"format": "aiassistant.chat", "version": 1, "chat": {}, "pairs": [{"id": "a", "parent_id": "missing"}]}],
        "just a string",
    ],
)
def test_import_refuses_malformed_documents_and_imports_nothing(data):
    user = UserFactory()

    with pytest.raises(ValidationFailed) as raised:
        chat_import(user=user, data=data)

    assert raised.value.code == "invalid_export"
    assert not Chat.objects.filter(user=user).exists()


def test_markdown_uses_the_saved_prompt_and_marks_hidden_turns():
    chat = _rich_chat()
    chat.system_prompt = ""
    chat.saved_prompt = SavedSystemPromptFactory(user=chat.user, content="Saved words.")
    chat.save()

    text = chat_export_markdown(chat=chat)

    assert "## System prompt\n\nSaved words." in text
    assert "## Turn 1 (hidden from the model)" in text
    assert "two b" in text
    assert "two a" not in text
