"""The seed's memory integration scenario as a test: a user, a chat, tagged memories, the relevant
memories for a context, the formatted block, and the message history sent to the model."""

from __future__ import annotations

import pytest

from chat.models import Chat, MemoryTag, Message, MessagePair, UserMemory
from chat.services.context import context_build
from chat.services.memory import memory_context_block
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_memory_integration_scenario():
    # Given a user with a chat and memories carrying tags
    user = UserFactory(email="memory-integration@example.com")
    chat = Chat.objects.create(user=user, title="Memory integration")
    python, work = (MemoryTag.objects.create(user=user, name=name) for name in ("python", "work"))
    facts = [
        ("Is a backend developer who writes Python", "work", 0.9, [python, work]),
        ("Prefers concise answers with code examples", "preference", 0.8, []),
        ("Enjoys mountain hiking on weekends", "interest", 0.7, []),
    ]
    for summary, category, confidence, tags in facts:
        memory = UserMemory.objects.create(
            user=user, summary=summary, category=category, confidence=confidence, source_chat=chat
        )
        memory.tags.set(tags)
    first = MessagePair.objects.create(chat=chat)
    Message.objects.create(pair=first, role="user", text="How do I structure a Django project?")
    Message.objects.create(pair=first, role="assistant", text="Use apps per bounded context.")
    second = MessagePair.objects.create(chat=chat, parent=first, depth=1)
    Message.objects.create(pair=second, role="user", text="Show me a Python service function")
    assistant = Message.objects.create(pair=second, role="assistant", status="streaming", model_alias="chat-default")
    Chat.objects.filter(id=chat.id).update(active_leaf=second)
    chat.refresh_from_db()

    # When the relevant memories for this question are formatted for the context
    block = memory_context_block(chat=chat, mark_referenced=False)

    # Then the most relevant come first, all fit the budget, and the block is compact text
    assert block is not None
    assert block.memories[0].summary == "Is a backend developer who writes Python"
    assert len(block.memories) == 3
    assert block.text.splitlines()[0] == "<user_memory>"
    assert "- Is a backend developer who writes Python [work; python, work]" in block.text
    assert block.text.endswith("</user_memory>")

    # And the prepared message history carries the block in the system prompt, the turns in order
    request = context_build(assistant_message=assistant).request
    assert request.system[-1].text == block.text
    assert [(m.role, m.content[-1].text) for m in request.messages] == [
        ("user", "How do I structure a Django project?"),
        ("assistant", "Use apps per bounded context."),
        ("user", "Show me a Python service function"),
    ]
    assert set(UserMemory.objects.values_list("times_referenced", flat=True)) == {1}
