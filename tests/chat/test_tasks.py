"""The beat-scheduled maintenance tasks, run eagerly."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat import tasks
from chat.models import Chat, IdempotencyKey, Message, MessagePair

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    user = get_user_model().objects.create_user("tasks@example.com", "pw-long-enough-123")
    chat = Chat.objects.create(user=user)
    pair = MessagePair.objects.create(chat=chat)
    Message.objects.create(pair=pair, role="user", text="q")
    return pair


def test_every_maintenance_task_is_scheduled():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "chat.tasks.sweep_stale_generations",
        "chat.tasks.purge_idempotency_keys",
        "chat.tasks.purge_unclaimed_attachments",
    } <= scheduled


def test_the_sweeper_leaves_live_generations_alone_and_interrupts_stale_ones(pair):
    live = Message.objects.create(pair=pair, role="assistant", status="streaming", heartbeat_at=timezone.now())
    other = MessagePair.objects.create(chat=pair.chat, parent=pair, depth=1)
    Message.objects.create(pair=other, role="user", text="q2")
    stale = Message.objects.create(
        pair=other,
        role="assistant",
        status="streaming",
        text="half",
        heartbeat_at=timezone.now() - timedelta(seconds=settings.CHAT_STALE_GENERATION_SECONDS + 5),
    )

    assert tasks.sweep_stale_generations.delay().get() == 1
    assert tasks.sweep_stale_generations.delay().get() == 0  # a second run changes nothing

    live.refresh_from_db()
    stale.refresh_from_db()
    assert live.status == "streaming"
    assert (stale.status, stale.text) == ("interrupted", "half")


def test_old_idempotency_keys_are_forgotten(pair):
    old = IdempotencyKey.objects.create(user=pair.chat.user, key="old", request_hash="h", pair=pair)
    IdempotencyKey.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
    IdempotencyKey.objects.create(user=pair.chat.user, key="new", request_hash="h", pair=pair)

    assert tasks.purge_idempotency_keys.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
