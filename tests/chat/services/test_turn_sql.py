"""A turn written in one statement (PostgreSQL): the same rows as the ORM path, owner-scoped, race-safe."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from backend import errors
from chat.models import Chat, Message, MessagePair
from chat.services import turn_sql
from chat.services.messages import message_send
from tests.chat.factories import ProjectFactory
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"),
]


def _stored(obj):
    return model_to_dict(type(obj).objects.get(pk=obj.pk))


def test_a_new_chat_is_one_statement_and_stores_what_it_returns(django_assert_num_queries):
    user = UserFactory()
    project = ProjectFactory(user=user)

    with django_assert_num_queries(2):  # the project's owner check, then the turn
        accepted = message_send(user=user, content="Hello there", project_id=project.id, model="fast")

    for obj in (accepted.chat, accepted.pair, accepted.user_message, accepted.assistant_message):
        assert _stored(obj) == model_to_dict(obj)
    chat = Chat.objects.get(id=accepted.chat.id)
    assert (chat.user, chat.project, chat.model, chat.title) == (user, project, "fast", "New chat")
    assert (chat.active_leaf_id, chat.last_message_preview) == (accepted.pair.id, "Hello there")
    assert accepted.assistant_message.status == "streaming" and accepted.assistant_message.model_alias == "fast"
    assert {m.user_id for m in Message.objects.filter(pair=accepted.pair)} == {user.id}


def test_the_new_user_messages_attachments_are_known_without_a_query_or_a_compiled_one(monkeypatch):
    from django.db.models.sql.compiler import SQLCompiler

    user = UserFactory()
    first = message_send(user=user, content="one")
    second = message_send(user=user, content="two", chat_id=first.chat.id)

    def no_compiling(*args, **kwargs):
        raise AssertionError("a query was compiled")

    monkeypatch.setattr(SQLCompiler, "as_sql", no_compiling)
    for accepted in (first, second):
        assert list(accepted.user_message.attachments.all()) == []
        assert accepted.user_message.attachments.count() == 0


def test_a_follow_up_reads_once_and_writes_once(django_assert_num_queries):
    user = UserFactory()
    first = message_send(user=user, content="one")

    with django_assert_num_queries(2):
        second = message_send(user=user, content="two", chat_id=first.chat.id)

    assert (second.pair.parent_id, second.pair.depth) == (first.pair.id, 1)
    assert Chat.objects.get(id=first.chat.id).active_leaf_id == second.pair.id
    for obj in (second.pair, second.user_message, second.assistant_message):
        assert _stored(obj) == model_to_dict(obj)


def test_an_explicit_parent_starts_a_branch():
    user = UserFactory()
    first = message_send(user=user, content="one")
    message_send(user=user, content="two", chat_id=first.chat.id)

    branch = message_send(user=user, content="again", chat_id=first.chat.id, parent_pair_id=first.pair.id)

    assert (branch.pair.parent_id, branch.pair.depth) == (first.pair.id, 1)
    assert Chat.objects.get(id=first.chat.id).active_leaf_id == branch.pair.id


@pytest.mark.parametrize("what", ["chat", "parent", "project"])
def test_foreign_ids_are_not_found_and_nothing_is_written(what):
    owner, stranger = UserFactory(), UserFactory()
    theirs = message_send(user=owner, content="mine")
    other = message_send(user=stranger, content="elsewhere")
    before = Message.objects.count()
    arguments = {
        "chat": {"chat_id": theirs.chat.id},
        "parent": {"chat_id": other.chat.id, "parent_pair_id": theirs.pair.id},
        "project": {"project_id": ProjectFactory(user=owner).id},
    }[what]

    with pytest.raises(errors.NotFound):
        message_send(user=stranger, content="hi", **arguments)

    assert Message.objects.count() == before


def test_a_turn_that_raced_another_follows_it_on_the_branch():
    user = UserFactory()
    first = message_send(user=user, content="one")
    raced = []

    def resolve_alias(chat):
        if not raced:  # between this turn's read and its write, another turn lands on the chat
            raced.append(message_send(user=user, content="concurrent", chat_id=chat.id))
        return "chat-default"

    chat, pair, _, _ = turn_sql.turn_write_follow_up(
        user=user, chat_id=first.chat.id, parent_pair_id=None, content="late", resolve_alias=resolve_alias
    )

    assert (pair.parent_id, pair.depth) == (raced[0].pair.id, 2)
    assert Chat.objects.get(id=chat.id).active_leaf_id == pair.id
    assert MessagePair.objects.filter(chat=chat).count() == 3  # the lost attempt wrote nothing


def test_a_turn_that_keeps_losing_races_is_left_to_the_locking_path():
    user = UserFactory()
    first = message_send(user=user, content="one")

    def always_raced(chat):
        MessagePair.objects.create(chat=chat, parent=None)  # stands in for someone else's turn
        Chat.objects.filter(id=chat.id).update(active_leaf=MessagePair.objects.filter(chat=chat).latest("created_at"))
        return "chat-default"

    written = turn_sql.turn_write_follow_up(
        user=user, chat_id=first.chat.id, parent_pair_id=None, content="late", resolve_alias=always_raced
    )

    assert written is None
    assert Message.objects.filter(pair__chat=first.chat).count() == 2


def test_an_unknown_chat_is_not_found():
    with pytest.raises(errors.NotFound):
        message_send(user=UserFactory(), content="hi", chat_id=uuid.uuid4())


def test_text_that_json_escapes_is_stored_exactly():
    """The rows travel as JSON: non-ASCII (astral planes too), quotes, backslashes and a literal `\\u0000`."""
    user = UserFactory()
    text = 'Grüße 😀 \U0001d518 "quoted" back\\slash \\u0000 中文\ttab\nnewline'  # U+1D518: outside the BMP

    first = message_send(user=user, content=text)
    second = message_send(user=user, content=text + " again", chat_id=first.chat.id)

    assert Message.objects.get(id=first.user_message.id).text == text
    assert Message.objects.get(id=second.user_message.id).text == text + " again"
    assert Chat.objects.get(id=first.chat.id).last_message_preview == (text + " again")[:200]


@pytest.mark.parametrize("with_leaf_and_project", [True, False])
def test_the_follow_ups_read_loads_what_the_orm_loads(with_leaf_and_project):
    user = UserFactory()
    project = ProjectFactory(user=user) if with_leaf_and_project else None
    if with_leaf_and_project:
        chat_id = message_send(user=user, content="one", project_id=project.id).chat.id
    else:
        chat_id = Chat.objects.create(user=user).id

    read = turn_sql._chat_with_leaf(chat_id=chat_id, user=user)
    loaded = Chat.objects.select_related("active_leaf", "project").get(id=chat_id)

    assert model_to_dict(read) == model_to_dict(loaded) and read._state.adding is False
    assert (read.active_leaf is None) == (not with_leaf_and_project) and read.project == project
    if with_leaf_and_project:
        assert model_to_dict(read.active_leaf) == model_to_dict(loaded.active_leaf)
        assert model_to_dict(read.project) == model_to_dict(loaded.project)
    assert turn_sql._chat_with_leaf(chat_id=chat_id, user=UserFactory()) is None  # not theirs


def test_the_turn_statements_are_prepared_on_the_connection(settings):
    """Bound on the server and planned once per connection (`prepared_cursor`), not parsed anew per turn."""
    user = UserFactory()
    first = message_send(user=user, content="one")
    for number in range(3):
        message_send(user=user, content=f"again {number}")
        message_send(user=user, content=f"more {number}", chat_id=first.chat.id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any(statement.startswith("WITH new_chat AS (INSERT INTO") for statement in prepared)
    assert any(statement.startswith("WITH moved AS (UPDATE") for statement in prepared)


@pytest.mark.django_db(transaction=True)  # riders ride outside a transaction, as admission runs
def test_a_follow_ups_chat_read_with_the_running_count_is_taken_by_its_first_attempt(django_assert_num_queries):
    from chat.services.generation import ChatAdapter

    user = UserFactory()
    first = message_send(user=user, content="one")
    first.assistant_message.status = Message.Status.COMPLETE
    first.assistant_message.save(update_fields=["status"])

    turn_sql.read_chat_ahead(chat_id=first.chat.id, user_id=user.pk)
    with django_assert_num_queries(2):  # the count and the chat, sent together
        assert ChatAdapter().running_count(user=user)[0] == 0
    with django_assert_num_queries(1):  # the write alone
        second = message_send(user=user, content="two", chat_id=first.chat.id)
    assert second.pair.parent_id == first.pair.id and second.chat.active_leaf_id == second.pair.id

    # Taken once; a row read for another chat (or user) is not used.
    turn_sql.read_chat_ahead(chat_id=uuid.uuid4(), user_id=user.pk)
    ChatAdapter().running_count(user=user)
    with django_assert_num_queries(2):  # the chat's read, then the write
        third = message_send(user=user, content="three", chat_id=first.chat.id)
    assert third.pair.parent_id == second.pair.id
