"""Chat and pair services against the real database."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from backend.errors import Conflict, ValidationFailed
from chat.models import Chat, Message, MessagePair
from chat.services import chats as services
from tests.chat.factories import ChatFactory, ProjectFactory, SavedSystemPromptFactory, linear_chat, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_chat_create_defaults():
    user = UserFactory()

    chat = services.chat_create(user=user)

    assert (chat.title, chat.title_source, chat.model, chat.project) == ("New chat", "default", "", None)


def test_chat_create_blank_title_keeps_the_default():
    chat = services.chat_create(user=UserFactory(), title="   ")

    assert (chat.title, chat.title_source) == ("New chat", "default")


@pytest.mark.parametrize("alias", ["chat-default", "fast", ""])
def test_model_alias_validate_accepts_selectable_aliases(alias):
    assert services.model_alias_validate(alias=alias) == alias


@pytest.mark.parametrize("alias", ["prototype", "gpt-4", "chat-default "])
def test_model_alias_validate_refuses_others(alias):
    with pytest.raises(ValidationFailed) as raised:
        services.model_alias_validate(alias=alias)

    assert raised.value.code == "unknown_model"
    assert raised.value.details == {"model": alias}


def test_chat_update_refuses_foreign_rows():
    chat = ChatFactory()

    with pytest.raises(ValidationFailed, match="Project"):
        services.chat_update(chat=chat, changes={"project_id": ProjectFactory().id})
    with pytest.raises(ValidationFailed, match="Saved prompt"):
        services.chat_update(chat=chat, changes={"saved_prompt_id": SavedSystemPromptFactory().id})


def test_chat_update_refuses_unknown_fields():
    with pytest.raises(ValueError, match="not updatable"):
        services.chat_update(chat=ChatFactory(), changes={"user_id": 1})


def test_system_prompt_switch_clears_the_other_source():
    chat = ChatFactory(system_prompt="own")
    prompt = SavedSystemPromptFactory(user=chat.user)

    services.chat_set_system_prompt(chat=chat, saved_prompt_id=prompt.id)
    chat.refresh_from_db()

    assert (chat.saved_prompt_id, chat.system_prompt) == (prompt.id, "")


def test_archiving_twice_is_harmless():
    chat = ChatFactory()

    services.chat_set_archived(chat=chat, archived=True)
    services.chat_set_archived(chat=chat, archived=True)

    assert Chat.objects.get(id=chat.id).archived is True


def test_pair_switch_follows_the_newest_child_at_each_step():
    chat = ChatFactory()
    base = timezone.now() - datetime.timedelta(hours=1)
    root = turn(chat, created_at=base)
    old = turn(chat, root, created_at=base + datetime.timedelta(seconds=1))
    new = turn(chat, root, created_at=base + datetime.timedelta(seconds=2))
    old_child = turn(chat, old, created_at=base + datetime.timedelta(seconds=3))
    Chat.objects.filter(id=chat.id).update(active_leaf=new)

    services.pair_switch(pair=MessagePair.objects.select_related("chat").get(id=old.id))
    on_old = Chat.objects.get(id=chat.id).active_leaf_id
    services.pair_switch(pair=MessagePair.objects.select_related("chat").get(id=root.id))
    on_root = Chat.objects.get(id=chat.id).active_leaf_id

    assert on_old == old_child.id
    assert on_root == new.id  # the newest child of root, then its newest child, ...


def test_pair_set_hidden_flips_when_not_told():
    _chat, [pair] = linear_chat(turns=1)

    assert services.pair_set_hidden(pair=pair).hidden is True
    assert services.pair_set_hidden(pair=pair).hidden is False
    assert services.pair_set_hidden(pair=pair, hidden=False).hidden is False


def test_pair_delete_removes_messages_of_the_subtree():
    chat, pairs = linear_chat(turns=3)

    services.pair_delete(pair=pairs[1])

    assert not Message.objects.filter(pair_id__in=[pairs[1].id, pairs[2].id]).exists()
    assert Message.objects.filter(pair=pairs[0]).count() == 2
    assert Chat.objects.get(id=chat.id).active_leaf_id == pairs[0].id


def test_pair_delete_of_a_root_lands_on_the_newest_remaining_root():
    chat = ChatFactory()
    base = timezone.now() - datetime.timedelta(hours=1)
    first_root = turn(chat, created_at=base)
    first_child = turn(chat, first_root, created_at=base + datetime.timedelta(seconds=1))
    second_root = turn(chat, created_at=base + datetime.timedelta(seconds=2))

    services.pair_delete(pair=second_root)

    assert Chat.objects.get(id=chat.id).active_leaf_id == first_child.id


def test_pair_delete_refuses_while_a_descendant_streams():
    chat, pairs = linear_chat(turns=2)
    Message.objects.filter(pair=pairs[1], role="assistant").update(status=Message.Status.STREAMING)

    with pytest.raises(Conflict) as raised:
        services.pair_delete(pair=pairs[0])

    assert raised.value.code == "generation_in_progress"
    assert MessagePair.objects.filter(chat=chat).count() == 2
