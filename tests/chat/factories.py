"""factory_boy factories for every chat model (users come from tests.factories)."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import factory
from django.utils import timezone

from backend.llm.tokens import estimate_text_tokens
from chat.models import (
    Attachment,
    Chat,
    Message,
    MessagePair,
    Project,
    ProjectKnowledge,
    SavedSystemPrompt,
    TokenUsage,
)
from tests.factories import UserFactory


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    description = "A project"
    instructions = "Answer briefly."


class ProjectKnowledgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectKnowledge

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Document {n}")
    content = "Some knowledge about the project."
    include_in_chat = True
    token_count = factory.LazyAttribute(lambda o: estimate_text_tokens(o.content))


class SavedSystemPromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedSystemPrompt

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Prompt {n}")
    content = "You are a helpful assistant."


class ChatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chat

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Chat {n}")


class MessagePairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessagePair

    chat = factory.SubFactory(ChatFactory)
    parent = None
    depth = factory.LazyAttribute(lambda o: o.parent.depth + 1 if o.parent else 0)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    pair = factory.SubFactory(MessagePairFactory)
    role = Message.Role.USER
    status = Message.Status.COMPLETE
    text = factory.Sequence(lambda n: f"message text {n}")


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attachment

    message = factory.SubFactory(MessageFactory)
    user = factory.LazyAttribute(lambda o: o.message.pair.chat.user if o.message else UserFactory())
    kind = Attachment.Kind.DOCUMENT
    format = "txt"
    mime_type = "text/plain"
    name = factory.Sequence(lambda n: f"notes-{n}.txt")
    file = factory.django.FileField(filename="notes.txt", data=b"hello")
    size_bytes = 5
    sha256 = hashlib.sha256(b"hello").hexdigest()


class TokenUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TokenUsage

    user = factory.SubFactory(UserFactory)
    chat = None
    chat_ref = factory.LazyAttribute(lambda o: o.chat.id if o.chat else TokenUsage._meta.get_field("chat_ref").default)
    project = None
    day = factory.LazyFunction(timezone.localdate)
    purpose = "chat"
    model_id = "us.anthropic.claude-sonnet-4-6"
    calls = 1
    input_tokens = 100
    output_tokens = 50
    cache_read_tokens = 0
    cache_write_tokens = 0
    cost = "0.001050"


def turn(
    chat: Chat,
    parent: MessagePair | None = None,
    *,
    user_text: str = "question",
    assistant_text: str = "answer",
    status: str = Message.Status.COMPLETE,
    created_at: datetime.datetime | None = None,
    activate: bool = True,
) -> MessagePair:
    """A pair with its user and assistant messages; by default it becomes the chat's active leaf."""
    pair = MessagePairFactory(chat=chat, parent=parent)
    if created_at is not None:
        MessagePair.objects.filter(id=pair.id).update(created_at=created_at)
        pair.refresh_from_db()
    MessageFactory(pair=pair, role=Message.Role.USER, text=user_text)
    MessageFactory(
        pair=pair,
        role=Message.Role.ASSISTANT,
        text=assistant_text,
        status=status,
        model_alias="chat-default",
        model_id="us.anthropic.claude-sonnet-4-6",
        stop_reason="end_turn" if status == Message.Status.COMPLETE else "",
        input_tokens=10,
        output_tokens=20,
        cost="0.000330",
    )
    if activate:
        Chat.objects.filter(id=chat.id).update(active_leaf=pair)
        chat.refresh_from_db()
    return pair


def linear_chat(*, turns: int, **chat_fields: Any) -> tuple[Chat, list[MessagePair]]:
    """A chat with `turns` consecutive turns, the last one active."""
    chat = ChatFactory(**chat_fields)
    pairs: list[MessagePair] = []
    base = timezone.now() - datetime.timedelta(hours=1)
    for index in range(turns):
        pairs.append(
            turn(
                chat,
                pairs[-1] if pairs else None,
                user_text=f"question {index}",
                assistant_text=f"answer {index}",
                created_at=base + datetime.timedelta(seconds=index),
                activate=False,
            )
        )
    if pairs:
        Chat.objects.filter(id=chat.id).update(active_leaf=pairs[-1])
        chat.refresh_from_db()
    return chat, pairs
