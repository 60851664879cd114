"""The admin runs the business: read-only conversations and ledger, readable columns, spend and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from backend.llm.models import LLMCall
from chat.models import Message
from tests.chat.factories import ChatFactory, TokenUsageFactory, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def call(user, cost: str, when: datetime, **fields) -> LLMCall:
    created = LLMCall.objects.create(
        user=user, purpose="chat", alias="chat-default", model_id="us.anthropic.claude-sonnet-4-6", cost=cost, **fields
    )
    LLMCall.objects.filter(id=created.id).update(created_at=when)
    return created


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_messages_can_be_read_but_not_added_changed_or_deleted(admin_client):
    chat = ChatFactory(title="Sourdough help")
    message = turn(chat, user_text="How do I feed my starter?", assistant_text="Daily.").messages.get(role="user")
    change_url = reverse("admin:chat_message_change", args=[message.id])

    page = admin_client.get(change_url)
    posted = admin_client.post(change_url, {"text": "rewritten", "role": "user", "status": "complete"})

    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert posted.status_code == 403
    assert admin_client.get(reverse("admin:chat_message_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:chat_message_delete", args=[message.id]), {"post": "yes"}).status_code == 403
    )
    assert Message.objects.get(id=message.id).text == "How do I feed my starter?"


def test_the_message_list_shows_who_which_chat_and_what_was_said(admin_client):
    chat = ChatFactory(title="Sourdough help", user=UserFactory(email="baker@example.com"))
    turn(chat, user_text="How do I feed my starter?", assistant_text="Daily.")

    body = admin_client.get(reverse("admin:chat_message_changelist")).content.decode()

    assert "baker@example.com" in body and "Sourdough help" in body and "How do I feed my starter?" in body


def test_the_ledger_cannot_be_changed_or_deleted_and_shows_user_and_totals(admin_client):
    user = UserFactory(email="payer@example.com")
    billed = call(user, "0.250000", timezone.now(), input_tokens=1000, output_tokens=10)
    call(user, "0.500000", timezone.now(), input_tokens=2000, output_tokens=20)

    listing = admin_client.get(reverse("admin:llm_llmcall_changelist")).content.decode()
    deleted = admin_client.post(reverse("admin:llm_llmcall_delete", args=[billed.id]), {"post": "yes"})

    assert deleted.status_code == 403 and LLMCall.objects.filter(id=billed.id).exists()
    assert "payer@example.com" in listing and "claude-sonnet-4-6" in listing
    assert 'id="changelist-totals"' in listing and "0.750000" in listing and "3000" in listing
    assert 'value="delete_selected"' not in listing


def test_spend_per_user_and_month_with_csv(admin_client):
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    november, october = datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC)
    call(ann, "1.000000", november, status="ok")
    call(ann, "0.500000", november, status="cancelled")  # stopped answers are billed too
    call(bob, "0.250000", november)
    call(ann, "9.000000", october)
    url = reverse("admin:llm_llmcall_spend")

    page = admin_client.get(url, {"month": "2026-11"})
    download = admin_client.get(url, {"month": "2026-11", "format": "csv"})

    assert page.status_code == 200
    rows = [(r["user__email"], r["calls"], r["cost"]) for r in page.context["rows"]]
    assert rows == [("ann@example.com", 2, Decimal("1.500000")), ("bob@example.com", 1, Decimal("0.250000"))]
    assert page.context["total"]["cost"] == Decimal("1.750000")
    assert download["Content-Type"].startswith("text/csv")
    assert csv_rows(download) == [
        ["month", "user", "calls", "input_tokens", "output_tokens", "cost_usd"],
        ["2026-11", "ann@example.com", "2", "0", "0", "1.500000"],
        ["2026-11", "bob@example.com", "1", "0", "0", "0.250000"],
    ]


def test_usage_rows_show_their_chat_and_totals_and_export_as_csv(admin_client):
    user = UserFactory(email="reader@example.com")
    chat = ChatFactory(user=user, title="Tax questions")
    first = TokenUsageFactory(user=user, chat=chat, cost="0.100000")
    second = TokenUsageFactory(user=user, chat=None, purpose="title", cost="0.020000")
    url = reverse("admin:chat_tokenusage_changelist")

    listing = admin_client.get(url).content.decode()
    exported = admin_client.post(url, {"action": "export_csv", "_selected_action": [first.id, second.id]})

    assert "Tax questions" in listing and "(deleted chat)" in listing
    assert 'id="changelist-totals"' in listing and "0.120000" in listing
    rows = csv_rows(exported)
    assert rows[0][:4] == ["day", "user__email", "chat_ref", "chat__title"]
    assert sorted(row[3] for row in rows[1:]) == ["", "Tax questions"]


def test_csv_cells_cannot_smuggle_spreadsheet_formulas(admin_client):
    chat = ChatFactory(title='=HYPERLINK("http://evil")')
    usage = TokenUsageFactory(user=chat.user, chat=chat)

    exported = admin_client.post(
        reverse("admin:chat_tokenusage_changelist"), {"action": "export_csv", "_selected_action": [usage.id]}
    )

    assert csv_rows(exported)[1][3].startswith("'=")
