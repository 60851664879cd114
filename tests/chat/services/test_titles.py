"""Chat titles: generated in the background after the first complete answer, never over a user's title."""

from __future__ import annotations

import pytest
from django.utils import timezone

from backend.llm.models import LLMCall
from chat import tasks
from chat.models import Chat, Message
from chat.services.generation import generation_finish
from chat.services.titles import chat_title_generate, title_clean
from tests.chat.factories import ChatFactory, MessageFactory, MessagePairFactory, turn

pytestmark = pytest.mark.django_db

TITLE_RULE = {"match": "You name conversations", "response": {"text": "Sourdough Starter Basics"}}


def _streaming_turn(chat: Chat, question: str = "How do I feed a sourdough starter?") -> Message:
    pair = MessagePairFactory(chat=chat)
    MessageFactory(pair=pair, role=Message.Role.USER, text=question)
    Chat.objects.filter(id=chat.id).update(active_leaf=pair)
    return MessageFactory(pair=pair, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, text="")


def _finish(answer: Message, status: str = Message.Status.COMPLETE) -> None:
    generation_finish(message_id=answer.id, status=status, text="Feed it flour and water daily.")


def _title_requests(emulator) -> list[dict]:
    return [r for r in emulator.requests() if "You name conversations" in str(r["body"].get("system"))]


def test_the_first_complete_answer_titles_the_chat_in_the_background(emulator, django_capture_on_commit_callbacks):
    emulator.add_rule(TITLE_RULE)
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    answer = _streaming_turn(chat)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _finish(answer)
        assert not _title_requests(emulator)  # nothing on the request path: only once committed

    chat.refresh_from_db()
    assert callbacks
    assert (chat.title, chat.title_source) == ("Sourdough Starter Basics", "generated")
    [request] = _title_requests(emulator)
    assert "haiku" in request["model_id"]  # the `fast` alias
    assert "same language as the user" in str(request["body"]["system"])
    assert "sourdough starter" in str(request["body"]["messages"])
    call = LLMCall.objects.get(purpose="title")
    assert (call.user_id, call.reference, call.status) == (chat.user_id, f"chat.chat:{chat.id}", "ok")


def test_a_title_the_user_set_is_never_overwritten(emulator, django_capture_on_commit_callbacks):
    emulator.add_rule(TITLE_RULE)
    chat = ChatFactory(title="My bread notes", title_source=Chat.TitleSource.USER)

    with django_capture_on_commit_callbacks(execute=True):
        _finish(_streaming_turn(chat))

    chat.refresh_from_db()
    assert (chat.title, chat.title_source) == ("My bread notes", "user")
    assert not _title_requests(emulator)


def test_a_rename_before_the_task_runs_wins(emulator):
    emulator.add_rule(TITLE_RULE)
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat)
    Chat.objects.filter(id=chat.id).update(title="Renamed", title_source=Chat.TitleSource.USER)

    assert tasks.generate_chat_title.delay(str(chat.id)).get() is None

    chat.refresh_from_db()
    assert chat.title == "Renamed"


@pytest.mark.parametrize("status", [Message.Status.ERROR, Message.Status.CANCELLED, Message.Status.INTERRUPTED])
def test_an_answer_that_did_not_complete_does_not_title(emulator, django_capture_on_commit_callbacks, status):
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)

    with django_capture_on_commit_callbacks(execute=True):
        _finish(_streaming_turn(chat), status=status)

    assert not _title_requests(emulator)
    assert Chat.objects.get(id=chat.id).title_source == "default"


def test_a_redelivered_title_task_changes_nothing_twice(emulator):
    emulator.add_rule(TITLE_RULE)
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat, user_text="sourdough?", assistant_text="yes")

    first = tasks.generate_chat_title.delay(str(chat.id)).get()
    updated_at = Chat.objects.get(id=chat.id).updated_at
    second = tasks.generate_chat_title.delay(str(chat.id)).get()

    assert (first, second) == ("Sourdough Starter Basics", None)
    assert len(_title_requests(emulator)) == 1
    assert Chat.objects.get(id=chat.id).updated_at == updated_at


def test_the_chat_list_learns_the_title_through_updated_at(emulator):
    emulator.add_rule(TITLE_RULE)
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat)
    before = timezone.now()

    chat_title_generate(chat_id=chat.id)

    assert Chat.objects.get(id=chat.id).updated_at >= before


def test_no_title_before_a_complete_answer(emulator):
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat, status=Message.Status.ERROR, assistant_text="")

    assert chat_title_generate(chat_id=chat.id) is None
    assert not _title_requests(emulator)


def test_throttling_is_retried_with_backoff_then_the_title_is_stored(emulator, settings):
    settings.CHAT_TASK_RETRY_BACKOFF_SECONDS = 0.01
    emulator.add_rule(TITLE_RULE)
    # The newest rule wins while it lasts. One complete() walks the whole `fast` chain
    # (2 models x botocore's one retry) before giving up: 4 throttles fail the first run.
    emulator.add_rule({"match": "You name conversations", "response": {"fault": "throttle"}, "times": 4})
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat)

    # Eager retries run at once, in-line; throw=False lets the task's Retry re-run it instead of raising.
    tasks.generate_chat_title.apply(args=(str(chat.id),), throw=False)

    assert Chat.objects.get(id=chat.id).title == "Sourdough Starter Basics"
    statuses = LLMCall.objects.filter(purpose="title").values_list("status", flat=True)
    assert sorted(statuses) == ["error", "ok"]  # usage recorded for the failed call too


def test_retries_stop_at_the_limit_and_the_task_drops_the_title(emulator, settings, caplog):
    settings.CHAT_TASK_RETRY_BACKOFF_SECONDS = 0.01
    settings.CHAT_TASK_MAX_RETRIES = 1
    emulator.add_rule({"match": "You name conversations", "response": {"fault": "unavailable"}})
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat)

    tasks.generate_chat_title.apply(args=(str(chat.id),), throw=False)

    assert Chat.objects.get(id=chat.id).title_source == "default"
    assert LLMCall.objects.filter(purpose="title", status="error").count() == 2
    assert "dropped after 1 retries" in caplog.text


def test_a_refused_request_is_not_retried(emulator, caplog):
    emulator.add_rule(
        {"match": "You name conversations", "response": {"fault": "error:ValidationException"}, "times": 1}
    )
    chat = ChatFactory(title="New chat", title_source=Chat.TitleSource.DEFAULT)
    turn(chat)

    tasks.generate_chat_title.delay(str(chat.id))

    assert LLMCall.objects.filter(purpose="title").count() == 1
    assert Chat.objects.get(id=chat.id).title_source == "default"
    assert "dropped after 0 retries" in caplog.text


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ("Sourdough Basics", "Sourdough Basics"),
        ('"Sourdough Basics."', "Sourdough Basics"),
        ("Title: Sourdough Basics", "Sourdough Basics"),
        ("\n\n  **Pain au levain**  \nmore text", "Pain au levain"),
        ("«Recette du pain»", "Recette du pain"),
        ("word " * 40, ("word " * 16).strip()),
        ("", ""),
    ],
)
def test_title_clean(reply, title):
    assert title_clean(reply) == title


def test_the_title_call_counts_in_the_chats_usage(emulator):
    from chat.models import TokenUsage
    from tests.chat.factories import ChatFactory, turn

    chat = ChatFactory(title="New chat", title_source="default")
    pair = turn(chat, user_text="How do I keep a sourdough starter alive?", assistant_text="Feed it daily.")
    chat.active_leaf = pair
    chat.save()
    emulator.add_rule({"match": "sourdough", "response": {"text": "Sourdough starter care"}})

    from chat.services.titles import chat_title_generate

    chat_title_generate(chat_id=chat.id)

    usage = TokenUsage.objects.get(chat=chat, purpose="title")
    assert usage.calls == 1
    assert usage.output_tokens > 0
