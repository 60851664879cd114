"""Usage API: the user's, a chat's and a project's totals from the daily roll-up."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from tests.chat.factories import ChatFactory, ProjectFactory, TokenUsageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

API = "/api/v1/chat"
SONNET = "us.anthropic.claude-sonnet-4-6"
HAIKU = "us.anthropic.claude-haiku-4-5"


def test_user_usage_totals_days_and_models(client, user):
    today = timezone.localdate()
    TokenUsageFactory(user=user, day=today, calls=2, input_tokens=100, output_tokens=40, cost="0.010000")
    TokenUsageFactory(
        user=user,
        day=today,
        model_id=HAIKU,
        purpose="title",
        calls=1,
        input_tokens=5,
        cache_read_tokens=7,
        cost="0.000100",
    )
    TokenUsageFactory(user=user, day=today - datetime.timedelta(days=2), calls=1, output_tokens=10, cost="0.002000")
    TokenUsageFactory(user=user, day=today - datetime.timedelta(days=90), calls=3, cost="1.000000")  # outside 30 days
    TokenUsageFactory(calls=99)  # someone else's

    response = client.get(f"{API}/usage/")

    assert response.status_code == 200
    body = response.json()
    assert body["totals"]["calls"] == 7
    assert body["totals"]["cost"] == "1.012100"
    assert body["totals"]["cache_read_tokens"] == 7
    assert len(body["days"]) == 30
    assert body["days"][-1]["day"] == today.isoformat()
    assert body["days"][-1]["usage"]["calls"] == 3
    assert body["days"][-3]["usage"]["output_tokens"] == 10
    assert body["days"][0]["usage"]["calls"] == 0
    assert [(row["model_id"], row["usage"]["calls"]) for row in body["models"]] == [(SONNET, 6), (HAIKU, 1)]


def test_usage_days_parameter(client, user):
    assert len(client.get(f"{API}/usage/", {"days": 7}).json()["days"]) == 7
    assert client.get(f"{API}/usage/", {"days": 0}).status_code == 400


def test_chat_usage_counts_only_that_chat(client, user):
    chat = ChatFactory(user=user)
    TokenUsageFactory(user=user, chat=chat, calls=2, cost="0.5")
    TokenUsageFactory(user=user, chat=ChatFactory(user=user), calls=5)

    body = client.get(f"{API}/chats/{chat.id}/usage/").json()

    assert body["totals"]["calls"] == 2
    assert body["totals"]["cost"] == "0.500000"


def test_project_usage_counts_only_that_project(client, user):
    project = ProjectFactory(user=user)
    TokenUsageFactory(user=user, project=project, calls=4, input_tokens=1000)
    TokenUsageFactory(user=user, purpose="memory", calls=5)

    body = client.get(f"{API}/projects/{project.id}/usage/").json()

    assert (body["totals"]["calls"], body["totals"]["input_tokens"]) == (4, 1000)


@pytest.mark.parametrize("rows", [5, 25])
def test_usage_query_count_is_constant(client, user, rows, django_assert_num_queries):
    today = timezone.localdate()
    for index in range(rows):
        TokenUsageFactory(user=user, day=today - datetime.timedelta(days=index % 30), model_id=f"model-{index}")

    with django_assert_num_queries(5):  # totals, per day, per model; budget override, month spend (cold cache)
        response = client.get(f"{API}/usage/")

    assert len(response.json()["models"]) == rows
