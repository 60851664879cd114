"""An answer's terminal state in one statement (PostgreSQL): the same rows and follow-ups as the engine's path."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import ProgrammingError, connection
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from backend.llm import budget
from backend.llm.models import LLMCall
from backend.llm.types import CallContext, Usage
from backend.llm.usage import UsageRecord, record_usage
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
    # Imported first: a task module imported while the patch is on would keep the fake `dispatch`
    # (`from backend.tasks import dispatch`) for the rest of the session.
    import chat.tasks  # noqa: F401

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
    expected = ["chat.tasks.generate_chat_title", "chat.tasks.extract_turn_memories"]  # eager: each at once
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
    assert enqueued == ["chat.tasks.generate_chat_title", "chat.tasks.extract_turn_memories"]


def _record(user, reference: str, tokens: int = 40) -> UsageRecord:
    return UsageRecord(
        context=CallContext(user_id=user.id, purpose="chat", reference=reference),
        alias="default",
        model_id="us.anthropic.claude-sonnet-4-6",
        streamed=True,
        usage=Usage(input_tokens=tokens, output_tokens=2, cache_read_tokens=1),
        cost=Decimal("0.001234"),
        latency_ms=120,
        first_token_ms=30,
        stop_reason="end_turn",
        attempts=[{"model_id": "other", "error": "throttled"}],
    )


def _ledger(reference: str) -> list[dict]:
    return list(
        LLMCall.objects.filter(reference=reference).values(
            "user_id", "purpose", "alias", "model_id", "provider", "attempts", "streamed", "status", "stop_reason",
            "input_tokens", "output_tokens", "cache_read_tokens", "usage_estimated", "latency_ms",
            "first_token_ms", "cost",
        )
    )  # fmt: skip


def test_the_held_ledger_rows_are_written_by_the_same_statement_as_record_usage_writes_them(
    django_assert_num_queries, django_capture_on_commit_callbacks, enqueued
):
    user = UserFactory()
    ended, already = message_send(user=user, content="one"), message_send(user=user, content="two")
    _finish(already.assistant_message)
    record_usage(_record(user, "by-record-usage"))

    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        assert _finish(ended.assistant_message, ledger=[_record(user, "held"), _record(user, "held", 7)]) is None
    # An answer someone else ended: its rows are written all the same.
    assert _finish(already.assistant_message, ledger=[_record(user, "held-late")]) is not None

    expected = _ledger("by-record-usage")[0]
    assert sorted(_ledger("held"), key=lambda row: row["input_tokens"]) == [{**expected, "input_tokens": 7}, expected]
    assert _ledger("held-late") == [expected]
    assert Message.objects.get(id=ended.assistant_message.id).status == Message.Status.COMPLETE


def test_the_held_rows_go_to_the_cached_month_sum(enqueued, django_capture_on_commit_callbacks):
    user = UserFactory()
    accepted = message_send(user=user, content="one")
    before = budget.month_spent(user.id)  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        _finish(accepted.assistant_message, ledger=[_record(user, "spent")])

    assert budget.month_spent(user.id) == (before[0] + 43, before[1] + Decimal("0.001234"))


@pytest.mark.django_db(transaction=True)
def test_the_held_rows_are_kept_when_the_terminal_statement_fails(monkeypatch, enqueued):
    user = UserFactory()
    accepted = message_send(user=user, content="one")
    monkeypatch.setattr(finish_sql, "_tail_sql", lambda: " SELECT no_such_column")

    with pytest.raises(ProgrammingError):
        _finish(accepted.assistant_message, ledger=[_record(user, "kept")])

    assert len(_ledger("kept")) == 1
    assert Message.objects.get(id=accepted.assistant_message.id).status == Message.Status.STREAMING


def _comparable(params):
    """Parameters with psycopg's JSON wrappers (no equality of their own) as their type and content."""
    return [(type(value).__name__, value.obj) if hasattr(value, "obj") else value for value in params]


@pytest.mark.parametrize(
    "values",
    [
        {
            "status": Message.Status.COMPLETE,
            "model_id": "us.anthropic.claude-sonnet-4-6",
            "stop_reason": "end_turn",
            "input_tokens": 12,
            "output_tokens": 30,
            "cache_read_tokens": 4,
            "cache_write_tokens": 2,
            "cost": Decimal("0.0123"),
            "error_code": "",
            "error_message": "",
            "event_seq": 7,
            "completed_at": timezone.now(),
            "text": "The answer.",
            "knowledge_mode": Message.KnowledgeMode.NONE,
            "citations": [{"index": 1, "title": "Doc", "score": 0.5}],
            "tool_calls": [],
        },
        {"status": Message.Status.ERROR, "error_code": "model_unavailable", "completed_at": None, "text": ""},
        {"status": Message.Status.CANCELLED, "output_tokens": F("output_tokens") + 1},
    ],
    ids=["complete", "null", "expression"],
)
def test_the_kept_update_is_the_statement_the_compiler_writes(values):
    record_id = uuid.uuid4()

    sql, params = finish_sql._update(record_id, values)
    expected_sql, expected_params = finish_sql._compiled_update(record_id, values)

    assert sql == expected_sql
    assert _comparable(params) == _comparable(expected_params)


def test_the_terminal_statement_is_prepared_on_the_connection(enqueued, django_capture_on_commit_callbacks):
    """Bound on the server and planned once per connection (`prepared_cursor`), ledger rows or not."""
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            _finish(message_send(user=user, content=f"plain {number}").assistant_message)
            answer = message_send(user=user, content=f"held {number}").assistant_message
            _finish(answer, ledger=[_record(user, f"call-{number}")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'WITH done AS (UPDATE%%'")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert len(prepared) == 2  # without ledger rows, and with one
    assert sum(", ledger AS (INSERT INTO" in statement for statement in prepared) == 1
