"""The full-text search's candidate query can use the GIN index created by migration 0003."""

import pytest
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection

from chat.models import Message
from chat.selectors.chats import SEARCH_CONFIG
from tests.chat.factories import ChatFactory, turn


@pytest.mark.postgres
@pytest.mark.django_db
def test_message_search_uses_the_fulltext_index():
    if connection.vendor != "postgresql":
        pytest.skip("the index exists on PostgreSQL only")
    chat = ChatFactory()
    turn(chat, user_text="zebras in the savanna", assistant_text="they graze")
    candidates = (
        Message.objects.annotate(document=SearchVector("text", config=SEARCH_CONFIG))
        .filter(document=SearchQuery("zebra", search_type="websearch", config=SEARCH_CONFIG))
        .values("pair__chat_id")
    )

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = candidates.explain()

    assert "chat_message_fts" in plan
    assert list(candidates) == [{"pair__chat_id": chat.id}]
