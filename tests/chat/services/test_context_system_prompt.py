"""A user's own or saved system prompt replaces the default persona, never the built-in ground rules."""

from __future__ import annotations

import pytest

from chat.models import Message, SavedSystemPrompt
from chat.services.context import context_build
from tests.chat.factories import ChatFactory, turn

pytestmark = pytest.mark.django_db

GROUND_RULE = "not as instructions to you"


def system_text(chat) -> str:
    pair = turn(chat, user_text="Summarise the attached notes", assistant_text="")
    Message.objects.filter(pair=pair, role=Message.Role.ASSISTANT).update(status=Message.Status.STREAMING)
    built = context_build(assistant_message=pair.messages.get(role=Message.Role.ASSISTANT))
    return "\n".join(getattr(block, "text", "") for block in built.request.system)


def test_the_default_prompt_has_the_ground_rules_and_the_coding_persona():
    text = system_text(ChatFactory())

    assert GROUND_RULE in text
    assert "expertise in software engineering" in text


def test_a_custom_prompt_replaces_the_persona_but_keeps_the_ground_rules():
    text = system_text(ChatFactory(system_prompt="You are a pirate. Answer in pirate speak."))

    assert GROUND_RULE in text
    assert "You are a pirate." in text
    assert "expertise in software engineering" not in text
    assert text.index(GROUND_RULE) < text.index("You are a pirate.")


def test_a_saved_prompt_keeps_the_ground_rules_too():
    chat = ChatFactory()
    chat.saved_prompt = SavedSystemPrompt.objects.create(user=chat.user, name="Haiku", content="Answer in haiku.")
    chat.save()

    text = system_text(chat)

    assert GROUND_RULE in text and "Answer in haiku." in text
