"""The cached history of the model context: the same request bytes as the ORM path, never stale."""

from __future__ import annotations

import datetime
import gc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Attachment, Message, MessagePair
from chat.services import chats as chat_services
from chat.services.context import context_build, history_turns
from tests.chat.factories import AttachmentFactory, ChatFactory, turn

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _chat(turns: int, *, user=None):
    """A chat of `turns` finished turns (2 messages each), one hidden, one without answer text, two with files."""
    chat = ChatFactory(**({"user": user} if user else {}))
    base = timezone.now() - datetime.timedelta(hours=2)
    pairs: list[MessagePair] = []
    for index in range(turns):
        pairs.append(
            turn(
                chat,
                pairs[-1] if pairs else None,
                user_text=f"question {index} " + "words " * (index % 7),
                assistant_text="" if index == 4 else f"answer {index}",
                created_at=base + datetime.timedelta(seconds=index),
            )
        )
    MessagePair.objects.filter(id=pairs[2].id).update(hidden=True)
    for index in (1, 6):
        AttachmentFactory(message=Message.objects.get(pair=pairs[index], role="user"), name=f"notes-{index}.txt")
    return chat, pairs


def _follow_up(chat, parent, text="and now?"):
    pair = turn(chat, parent, user_text=text, assistant_text="", status=Message.Status.STREAMING)
    return pair


def _answered_follow_up(turns: int):
    """A chat of `turns` turns and a follow-up answered "ok", its history entry stored (a walk)."""
    chat, pairs = _chat(turns)
    first = _follow_up(chat, pairs[-1])
    history_turns(pair=first)  # a walk; stores the entry ending at the last turn (both caches)
    Message.objects.filter(pair=first, role=Message.Role.ASSISTANT).update(status=Message.Status.COMPLETE, text="ok")
    return chat, pairs, first


def _build(pair, settings, *, cached: bool):
    settings.CHAT_HISTORY_CACHE_SECONDS = 300 if cached else 0
    assistant = Message.objects.get(pair=pair, role=Message.Role.ASSISTANT)
    built = context_build(assistant_message=assistant)
    return built.request, built.omitted_pair_ids, built.input_token_estimate


def _same_as_orm(pair, settings):
    orm = _build(pair, settings, cached=False)
    cached = _build(pair, settings, cached=True)
    assert cached == orm
    return cached


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the context history is cached on PostgreSQL only")


def test_a_long_chat_renders_the_same_request_cached_and_uncached(settings):
    chat, pairs = _chat(100)  # 200 messages
    pair = _follow_up(chat, pairs[-1])

    first = _same_as_orm(pair, settings)  # a miss: one walk, then stored
    again = _build(pair, settings, cached=True)  # a hit

    request = first[0]
    texts = [block.text for message in request.messages for block in message.content if hasattr(block, "text")]
    assert "question 2 " + "words " * 2 not in texts  # hidden
    assert not any(text.startswith("question 4 ") for text in texts)  # its answer has no text
    assert any(text.startswith("question 5 ") for text in texts)
    assert again == first


def test_a_follow_up_extends_the_previous_entry_without_walking_the_history(settings):
    costs = {}
    for turns in (20, 100):
        chat, pairs = _chat(turns)
        first = _follow_up(chat, pairs[-1])
        _build(first, settings, cached=True)
        Message.objects.filter(pair=first, role=Message.Role.ASSISTANT).update(
            status=Message.Status.COMPLETE, text="the answer to the follow-up"
        )
        second = _follow_up(chat, first, text="one more")
        with CaptureQueriesContext(connection) as queries:
            built = _build(second, settings, cached=True)
        costs[turns] = len(queries)
        assert built == _build(second, settings, cached=False)
        assert "the answer to the follow-up" in [
            block.text for message in built[0].messages for block in message.content if hasattr(block, "text")
        ]
    assert costs[20] == costs[100]  # the history's length costs no query


def test_hiding_editing_and_removing_files_in_the_history_show_at_once(settings):
    chat, pairs = _chat(12)
    pair = _follow_up(chat, pairs[-1])
    _same_as_orm(pair, settings)

    chat_services.pair_set_hidden(pair=pairs[8], hidden=True)
    _same_as_orm(pair, settings)

    answer = Message.objects.get(pair=pairs[9], role=Message.Role.ASSISTANT)
    answer.text = "a corrected answer"
    answer.save(update_fields=["text"])
    request, *_ = _same_as_orm(pair, settings)
    assert any(getattr(block, "text", "") == "a corrected answer" for m in request.messages for block in m.content)

    Attachment.objects.filter(message__pair=pairs[6]).delete()
    _same_as_orm(pair, settings)


def test_an_unfinished_answer_in_the_history_is_never_cached(settings):
    chat, pairs = _chat(8)
    Message.objects.filter(pair=pairs[-1], role=Message.Role.ASSISTANT).update(
        status=Message.Status.STREAMING, text="partial"
    )
    pair = _follow_up(chat, pairs[-1])
    _same_as_orm(pair, settings)

    # Its final write (streaming → complete) raises no edit version: nothing stale may be cached.
    Message.objects.filter(pair=pairs[-1], role=Message.Role.ASSISTANT).update(
        status=Message.Status.COMPLETE, text="partial, then finished"
    )
    request, *_ = _same_as_orm(pair, settings)
    assert any(getattr(block, "text", "") == "partial, then finished" for m in request.messages for block in m.content)


def test_a_new_version_of_a_turn_gets_its_own_history(settings):
    chat, pairs = _chat(8)
    on_branch = _follow_up(chat, pairs[-1])
    _same_as_orm(on_branch, settings)
    edited = _follow_up(chat, pairs[3], text="an edited fifth question")  # another branch

    request, *_ = _same_as_orm(edited, settings)
    assert not any(getattr(b, "text", "").startswith("question 5 ") for m in request.messages for b in m.content)


def test_the_first_turn_has_no_history(settings):
    chat = ChatFactory()
    pair = _follow_up(chat, None, text="hello")
    request, omitted, _ = _same_as_orm(pair, settings)
    assert len(request.messages) == 1 and omitted == []


def test_the_history_of_a_follow_up_costs_one_statement(settings, django_assert_num_queries):
    """The previous turn's entry plus the new turn's parent: one statement, whatever the chat's length."""
    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, _, first = _answered_follow_up(100)
    second = _follow_up(chat, first)

    with django_assert_num_queries(1):  # the chat's edit version and the parent turn
        extended = history_turns(pair=second)
    with django_assert_num_queries(1):  # now its own entry
        again = history_turns(pair=second)

    settings.CHAT_HISTORY_CACHE_SECONDS = 0
    assert extended == again == history_turns(pair=second)
    assert extended[-1][3] == "ok" and len(extended) == 99  # 100 + 1 turns, less a hidden and an empty one


def test_a_follow_up_in_the_same_process_reads_its_base_from_the_process_copy(settings):
    """Entries are keyed by the chat's edit version and last turn, so the process's copy is exact:
    no round trip to the shared cache and no unpickling of a long history on the next turn."""
    from unittest import mock

    from chat.services import context

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, _, first = _answered_follow_up(30)
    second = _follow_up(chat, first)

    with mock.patch.object(context.cache, "get_many", wraps=context.cache.get_many) as shared_reads:
        extended = history_turns(pair=second)
        assert history_turns(pair=second) == extended
    assert shared_reads.call_count == 0
    settings.CHAT_HISTORY_CACHE_SECONDS = 0
    assert extended == history_turns(pair=second)

    # Another process (an empty copy) reads the same entries from the shared cache.
    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    with mock.patch.object(context, "_history_memo", context.LocalMemo(1 << 20, size=context._turns_size)):
        with mock.patch.object(context.cache, "get_many", wraps=context.cache.get_many) as shared_reads:
            assert history_turns(pair=second) == extended
        assert shared_reads.call_count == 1


def test_a_turn_hidden_by_any_writer_is_seen_through_the_process_copy(settings):
    """A plain UPDATE (not the service) still raises the chat's edit version, so the copy is not read."""
    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, pairs = _chat(10)
    last = _follow_up(chat, pairs[-1])
    before = history_turns(pair=last)
    assert history_turns(pair=last) == before  # from the process copy

    MessagePair.objects.filter(id=pairs[5].id).update(hidden=True)

    after = history_turns(pair=last)
    assert [t[0] for t in after] == [t[0] for t in before if t[0] != str(pairs[5].id)]


def test_an_extended_entry_replaces_its_base_in_the_process_copy(settings):
    """The next follow-up extends the new entry: the old one would only take other chats' room."""
    from chat.services import context

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, pairs, first = _answered_follow_up(12)
    second = _follow_up(chat, first)
    version = type(chat).objects.values_list("history_edit_version", flat=True).get(id=chat.id)
    base_key = context._history_key(chat.id, version, pairs[-1].id)
    own_key = context._history_key(chat.id, version, first.id)
    assert context._history_memo.get(base_key) is not None

    extended = history_turns(pair=second)

    assert context._history_memo.get(base_key) is None
    assert context._history_memo.get(own_key) == tuple(extended)
    assert context.cache.get(base_key) is not None  # still shared, for a turn that branches off there


def test_a_build_can_leave_the_shared_copy_of_its_entry_to_its_caller(settings):
    """`share_history_later=True`: the entry is in this process at once, in the shared cache only
    when the caller runs `history_shares` (the answer does, with its terminal write)."""
    from unittest import mock

    from chat.services import context

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, pairs = _chat(12)
    pair = _follow_up(chat, pairs[-1])
    assistant = Message.objects.get(pair=pair, role=Message.Role.ASSISTANT)
    version = type(chat).objects.values_list("history_edit_version", flat=True).get(id=chat.id)
    key = context._history_key(chat.id, version, pairs[-1].id)

    with mock.patch.object(context.cache, "set", wraps=context.cache.set) as shared_writes:
        built = context_build(assistant_message=assistant, share_history_later=True)
        assert shared_writes.call_count == 0
    assert context.cache.get(key) is None
    assert context._history_memo.get(key) is not None
    assert len(built.history_shares) == 1

    for share in built.history_shares:
        share()

    assert context.cache.get(key) == context._history_memo.get(key)
    assert context_build(assistant_message=assistant).history_shares == []  # shared at once by default


@pytest.mark.django_db(transaction=True)  # outside a transaction, as admission runs
def test_a_follow_ups_last_turn_is_read_with_the_running_count(settings, django_assert_num_queries):
    """`history_ahead`: the chat's leaf turn comes with the count, and `history_turns` takes it if
    the turn continues that leaf (once); else it reads as before."""
    from chat.services import context
    from chat.services.generation import ChatAdapter

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat, pairs, first = _answered_follow_up(12)
    # Continues the leaf the count's round trip reads (not yet the leaf itself, as before its write).
    second = turn(chat, first, user_text="and now?", assistant_text="", status=Message.Status.STREAMING, activate=False)
    user = chat.user

    context.history_ahead(chat_id=chat.id, user_id=user.id)
    with django_assert_num_queries(2):  # the count and the last turn, sent together
        ChatAdapter().running_count(user=user)
    with django_assert_num_queries(0):
        extended = history_turns(pair=second)
    settings.CHAT_HISTORY_CACHE_SECONDS = 0
    assert extended == history_turns(pair=second)
    settings.CHAT_HISTORY_CACHE_SECONDS = 300

    # A turn that does not continue the leaf read (another branch) reads its own parent.
    branch = turn(chat, pairs[5], user_text="another branch", assistant_text="", status="streaming", activate=False)
    context.history_ahead(chat_id=chat.id, user_id=user.id)
    ChatAdapter().running_count(user=user)
    with django_assert_num_queries(3):  # its parent's turn, the walk (no entry ends there), the files in it
        on_branch = history_turns(pair=branch)
    settings.CHAT_HISTORY_CACHE_SECONDS = 0
    assert on_branch == history_turns(pair=branch)


def test_the_process_copy_of_a_history_is_left_alone_by_the_garbage_collector(settings):
    """A process keeps thousands of cached turns: as exact tuples of strings the collector stops
    tracking them, and full collections do not walk them again on every pass."""
    from chat.services import context

    settings.CHAT_HISTORY_CACHE_SECONDS = 300
    chat = ChatFactory()
    pairs: list[MessagePair] = []
    for index in range(5):
        pairs.append(turn(chat, pairs[-1] if pairs else None, user_text=f"question {index}", assistant_text="answer"))
    history_turns(pair=_follow_up(chat, pairs[-1]))
    version = type(chat).objects.values_list("history_edit_version", flat=True).get(id=chat.id)
    entry = context._history_memo.get(context._history_key(chat.id, version, pairs[-1].id))

    gc.collect()
    gc.collect()  # the entry's turns at the first, the entry (which held tracked turns then) at the second

    assert entry is not None and len(entry) == 5
    assert not gc.is_tracked(entry)
    assert not any(gc.is_tracked(past) for past in entry)
