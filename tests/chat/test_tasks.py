"""The beat-scheduled maintenance tasks, run eagerly."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from backend.streaming.tasks import sweep_generations
from chat.models import Chat, Message, MessagePair
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    user = UserFactory(email="tasks@example.com")
    chat = Chat.objects.create(user=user)
    pair = MessagePair.objects.create(chat=chat)
    Message.objects.create(pair=pair, role="user", text="q")
    return pair


def test_every_maintenance_task_is_scheduled():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "backend.streaming.tasks.sweep_generations",
        "backend.streaming.tasks.purge_idempotency_keys",
        "chat.tasks.purge_unclaimed_attachments",
    } <= scheduled


def test_the_sweep_task_leaves_live_answers_alone_and_interrupts_stale_ones(pair):
    live = Message.objects.create(pair=pair, role="assistant", status="streaming", heartbeat_at=timezone.now())
    other = MessagePair.objects.create(chat=pair.chat, parent=pair, depth=1)
    Message.objects.create(pair=other, role="user", text="q2")
    stale = Message.objects.create(
        pair=other,
        role="assistant",
        status="streaming",
        text="half",
        heartbeat_at=timezone.now() - timedelta(seconds=settings.STREAM_STALE_SECONDS + 5),
    )

    assert sweep_generations.delay().get() == 1
    assert sweep_generations.delay().get() == 0  # a second run changes nothing

    live.refresh_from_db()
    stale.refresh_from_db()
    assert live.status == "streaming"
    assert (stale.status, stale.text) == ("interrupted", "half")


def test_title_and_memory_tasks_skip_without_a_model_call_when_the_budget_is_used_up(pair, emulator, settings):
    from backend.llm.models import LLMCall
    from chat.tasks import extract_turn_memories, generate_chat_title

    settings.USER_MONTHLY_TOKEN_BUDGET = 10
    answer = Message.objects.create(pair=pair, role="assistant", status="complete", text="an answer")
    LLMCall.objects.create(user=pair.chat.user, purpose="chat", alias="fast", model_id="seeded", output_tokens=10)

    # Refused before the model is asked, and not retried (the budget resets only next month).
    assert generate_chat_title.delay(str(pair.chat_id)).get() is None
    assert extract_turn_memories.delay(str(answer.id)).get() == 0

    assert emulator.requests() == []
    pair.chat.refresh_from_db()
    assert pair.chat.title_source == Chat.TitleSource.DEFAULT
    assert LLMCall.objects.count() == 1


def test_a_first_answers_follow_ups_title_the_chat_and_extract_memories_each_once(emulator):
    """`answer_follow_ups` (one message from the web process) hands each job to its own task."""
    from chat import tasks
    from chat.models import UserMemory
    from tests.chat.factories import ChatFactory, turn

    emulator.add_rule({"match": "You name conversations", "response": {"text": "Python Closures"}})
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    answer = turn(chat, user_text="I prefer Python. What is a closure?", assistant_text="A function...").messages.get(
        role=Message.Role.ASSISTANT
    )

    tasks.answer_follow_ups.delay(str(chat.id), str(answer.id)).get()
    tasks.answer_follow_ups.delay(str(chat.id), str(answer.id)).get()  # a redelivered copy

    chat.refresh_from_db()
    assert (chat.title, chat.title_source) == ("Python Closures", "generated")
    assert list(UserMemory.objects.filter(user_id=chat.user_id).values_list("summary", flat=True)) == ["Prefers Python"]
    assert len(emulator.requests()) == 2  # one title call and one extraction call: nothing twice
