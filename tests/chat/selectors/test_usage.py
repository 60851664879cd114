"""Usage selectors: totals, zero-filled days, models; deleted chats keep counting for the user."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from chat.selectors.usage import usage_for_chat, usage_for_user
from tests.chat.factories import ChatFactory, TokenUsageFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 31)


def test_report_days_are_zero_filled_and_bounded():
    user = UserFactory()
    TokenUsageFactory(user=user, day=TODAY, calls=1, cost="0.1")
    TokenUsageFactory(user=user, day=TODAY - datetime.timedelta(days=6), calls=2, cost="0.2")
    TokenUsageFactory(user=user, day=TODAY - datetime.timedelta(days=7), calls=4, cost="0.4")

    report = usage_for_user(user=user, days=7, today=TODAY)

    assert [day.day for day in report.days] == [TODAY - datetime.timedelta(days=n) for n in range(6, -1, -1)]
    assert [day.totals.calls for day in report.days] == [2, 0, 0, 0, 0, 0, 1]
    assert report.totals.calls == 7
    assert report.totals.cost == Decimal("0.700000")


def test_usage_of_a_deleted_chat_still_counts_for_the_user():
    user = UserFactory()
    chat = ChatFactory(user=user)
    TokenUsageFactory(user=user, chat=chat, calls=3)
    chat_id = chat.id

    chat.delete()

    assert usage_for_user(user=user, today=TODAY).totals.calls == 3
    assert ChatFactory(user=user).id != chat_id


def test_chat_usage_includes_rows_recorded_by_reference_only():
    user = UserFactory()
    chat = ChatFactory(user=user)
    TokenUsageFactory(user=user, chat=None, chat_ref=chat.id, calls=2)
    TokenUsageFactory(user=user, chat=chat, purpose="title", calls=1)

    assert usage_for_chat(chat=chat, today=TODAY).totals.calls == 3
