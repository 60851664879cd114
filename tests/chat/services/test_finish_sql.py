"""An answer's terminal state in one statement (PostgreSQL): the same rows and follow-ups as the engine's path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from backend.llm.types import Usage
from backend.streaming.engine import Failure, Outcome
from chat.models import Chat, MemorySettings, Message, TokenUsage
from chat.services import finish_sql, generation
from chat.services.messages import message_send
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"),
]

COMPLETE = Outcome(status=Message.Status.COMPLETE, stop_reason="end_turn")
FAILED = Outcome(status=Message.Status.ERROR, failure=Failure("model_unavailable", "down", retryable=True))
USAGE = Usage(input_tokens=12, output_tokens=30, cache_read_tokens=4, cache_write_tokens=2)


@pytest.fixture
def enqueued(monkeypatch):
    """The dotted paths of the tasks dispatched (run on commit, as in production)."""
    names: list[str] = []
    monkeypatch.setattr("backend.tasks.dispatch", lambda task, **kwargs: names.append(task.name))
    return names


def _finish(answer, outcome=COMPLETE, **overrides):
    arguments = {
        "record_id": answer.id,
        "outcome": outcome,
        "text": "The answer.",
        "model_id": "us.anthropic.claude-sonnet-4-6",
        "usage": USAGE,
        "cost": Decimal("0.0123"),
        "event_seq": 7,
    }
    return generation.engine.finish(**{**arguments, **overrides})


def _state(accepted):
    answer = Message.objects.get(id=accepted.assistant_message.id)
    fields = model_to_dict(answer, exclude=["completed_at", "heartbeat_at", "id", "pair"])
    chat = Chat.objects.get(id=accepted.chat.id)
    rollup = list(
        TokenUsage.objects.filter(chat_ref=accepted.chat.id).values_list(
            "purpose", "model_id", "calls", "input_tokens", "output_tokens", "cache_read_tokens", "cost"
        )
    )
    return fields, rollup, chat.updated_at > accepted.chat.updated_at


@pytest.mark.parametrize("outcome", [COMPLETE, FAILED], ids=["complete", "failed"])
def test_one_statement_writes_what_the_engines_path_writes(
    outcome, enqueued, monkeypatch, django_assert_num_queries, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fast, slow = message_send(user=user, content="one"), message_send(user=user, content="two")

    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        assert _finish(fast.assistant_message, outcome) is None
    fast_tasks = list(enqueued)
    enqueued.clear()
    monkeypatch.setattr(finish_sql, "available", lambda: False)  # the engine's transaction and `finished`
    with django_capture_on_commit_callbacks(execute=True):
        assert _finish(slow.assistant_message, outcome) is None

    assert _state(fast)[0] == _state(slow)[0]
    assert [row[1:] for row in _state(fast)[1]] == [row[1:] for row in _state(slow)[1]]
    assert _state(fast)[1][0][0] == "chat" and _state(fast)[2] and _state(slow)[2]
    assert fast_tasks == enqueued
    expected = ["chat.tasks.answer_follow_ups"]  # title and extraction in one message
    assert fast_tasks == (expected if outcome is COMPLETE else [])


def test_the_roll_up_row_is_incremented_and_no_model_adds_nothing(django_capture_on_commit_callbacks, enqueued):
    user = UserFactory()
    first = message_send(user=user, content="one")
    second = message_send(user=user, content="two", chat_id=first.chat.id)
    third = message_send(user=user, content="three", chat_id=first.chat.id)

    with django_capture_on_commit_callbacks(execute=True):
        _finish(first.assistant_message)
        _finish(second.assistant_message)
        _finish(third.assistant_message, FAILED, model_id="", usage=Usage(), cost=Decimal(0))

    rows = list(TokenUsage.objects.filter(chat_ref=first.chat.id).values_list("calls", "input_tokens", "cost"))
    assert rows == [(2, 24, Decimal("0.0246"))]
    assert Message.objects.get(id=third.assistant_message.id).status == Message.Status.ERROR


def test_a_titled_or_incognito_chat_schedules_only_what_applies(django_capture_on_commit_callbacks, enqueued):
    user = UserFactory()
    titled, incognito = message_send(user=user, content="one"), message_send(user=user, content="two")
    Chat.objects.filter(id=titled.chat.id).update(title_source=Chat.TitleSource.USER)
    Chat.objects.filter(id=incognito.chat.id).update(incognito=True)

    with django_capture_on_commit_callbacks(execute=True):
        _finish(titled.assistant_message)
    assert enqueued == ["chat.tasks.extract_turn_memories"]
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _finish(incognito.assistant_message)
    assert enqueued == ["chat.tasks.generate_chat_title"]


def test_no_extraction_is_enqueued_for_a_user_who_switched_memory_off(django_capture_on_commit_callbacks, enqueued):
    user = UserFactory()
    MemorySettings.objects.create(user=user, enabled=False)
    accepted = message_send(user=user, content="one")

    with django_capture_on_commit_callbacks(execute=True):
        _finish(accepted.assistant_message)

    assert enqueued == ["chat.tasks.generate_chat_title"]


def test_an_answer_already_ended_is_written_once_and_its_stored_state_returned(
    django_capture_on_commit_callbacks, enqueued
):
    accepted = message_send(user=UserFactory(), content="one")
    with django_capture_on_commit_callbacks(execute=True):
        assert _finish(accepted.assistant_message) is None
        stored = _finish(accepted.assistant_message, FAILED, text="other", model_id="", usage=Usage())

    assert stored is not None and stored.text == "The answer." and stored.terminal[0] == "message_stop"
    assert TokenUsage.objects.get(chat_ref=accepted.chat.id).calls == 1
    assert enqueued == ["chat.tasks.answer_follow_ups"]
