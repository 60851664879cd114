"""`backend.db.json_insert`: the rows Django's own field preparation would give, written as they were."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.forms.models import model_to_dict

from backend.db import json_insert, json_value, prepared_cursor
from backend.llm.models import LLMCall
from chat.models import Chat, Message, MessagePair
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="json_populate_recordset is PostgreSQL's"),
]


def _generic_rows(objects):
    """Each concrete field through Django's `pre_save` and `get_db_prep_save`, then as JSON."""
    rows = []
    for obj in objects:
        fields = type(obj)._meta.concrete_fields
        rows.append({f.column: json_value(f.get_db_prep_save(f.pre_save(obj, True), connection)) for f in fields})
    return json.loads(json.dumps(rows))


def _stamped(model):
    fields = model._meta.concrete_fields
    return {f.column for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)}


def _without(rows, columns):
    return [{key: value for key, value in row.items() if key not in columns} for row in rows]


def _turn(user):
    chat = Chat(user=user, title="Plans", incognito=True, history_version=7)
    pair = MessagePair(chat=chat, depth=3)
    user_message = Message(pair=pair, user_id=user.id, role=Message.Role.USER, text='Ünïcødé "quoted"\n', token_count=4)
    assistant_message = Message(
        pair=pair,
        user_id=user.id,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_alias="fast",
        heartbeat_at=datetime(2026, 12, 2, 7, 30, tzinfo=UTC),
        context_omitted=[str(uuid.uuid4())],
        citations=[{"n": 1, "title": "A, b", "score": 0.5, "nested": {"k": [1, 2.5, None, True]}}],
        cost=Decimal("0.001250"),
    )
    chat.active_leaf = pair
    return chat, pair, user_message, assistant_message


@pytest.mark.parametrize("index", range(4))
def test_the_rows_are_what_djangos_field_preparation_gives(index):
    obj = _turn(UserFactory())[index]
    model = type(obj)

    _, params = json_insert(model, [obj])

    stamped = _stamped(model)  # `auto_now` and `auto_now_add` take the time of each call
    assert _without(json.loads(params[0]), stamped) == _without(_generic_rows([obj]), stamped)
    assert all(isinstance(row[column], str) for row in json.loads(params[0]) for column in stamped)


def test_values_of_unexpected_types_take_djangos_preparation():
    user = UserFactory()
    message = Message(
        pair=MessagePair(chat=Chat(user=user)),
        user_id=str(user.id),  # a key as text
        role=Message.Role.USER,
        text="hi",
        token_count=True,  # a bool for an integer column: Django makes it 1
        input_tokens="12",  # text for an integer column
        heartbeat_at=datetime(2026, 12, 2, 7, 30),  # naive: Django makes it aware
        citations=({"a": 1},),  # a tuple: JSON's array
    )

    with pytest.warns(RuntimeWarning, match="naive datetime"):
        _, params = json_insert(Message, [message])
    (row,) = json.loads(params[0])

    assert (row["user_id"], row["token_count"], row["input_tokens"]) == (str(user.id), 1, 12)
    assert row["heartbeat_at"].endswith("+00:00") and row["citations"] == [{"a": 1}]


def test_rows_written_read_back_as_they_were_built():
    user = UserFactory()
    chat, pair, user_message, assistant_message = _turn(user)
    ledger = [
        LLMCall(user_id=user.id, alias="fast", model_id="m", attempts=[{"model": "x", "error": "throttled"}], cost=c)
        for c in (Decimal("0.5"), Decimal("0.000001"))
    ]
    statements = [json_insert(Chat, [chat]), json_insert(MessagePair, [pair])]
    statements += [json_insert(Message, [user_message, assistant_message]), json_insert(LLMCall, ledger)]
    names = ["c", "p", "m", "l"]
    ctes = ", ".join(f"{name} AS ({sql})" for name, (sql, _) in zip(names, statements, strict=True))

    with prepared_cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT 1", [param for _, params in statements for param in params])

    for obj in (chat, pair, user_message, assistant_message, *ledger):
        assert model_to_dict(type(obj).objects.get(pk=obj.pk)) == model_to_dict(obj)


def test_the_statement_text_does_not_depend_on_the_number_of_rows():
    one, _ = json_insert(LLMCall, [LLMCall(alias="a", model_id="m")])
    three, _ = json_insert(LLMCall, [LLMCall(alias="a", model_id="m") for _ in range(3)])

    assert one == three


def test_a_model_whose_key_the_database_sets_is_refused():
    with pytest.raises(TypeError, match="primary key"):
        json_insert(ContentType, [ContentType(app_label="a", model="b")])
