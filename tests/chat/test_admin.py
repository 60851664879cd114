"""The chat admin: every model is registered and its list pages do not grow queries with rows."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Message
from tests.chat.factories import (
    AttachmentFactory,
    ProjectKnowledgeFactory,
    SavedSystemPromptFactory,
    TokenUsageFactory,
    linear_chat,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "project",
    "projectknowledge",
    "savedsystemprompt",
    "chat",
    "messagepair",
    "message",
    "attachment",
    "tokenusage",
]


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _rows(count):
    for _ in range(count):
        chat, [pair] = linear_chat(turns=1)
        AttachmentFactory(message=Message.objects.get(pair=pair, role="user"))
        ProjectKnowledgeFactory()
        SavedSystemPromptFactory()
        TokenUsageFactory(user=chat.user, chat=chat)


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(admin_client, model, django_assert_max_num_queries):
    url = reverse(f"admin:chat_{model}_changelist")
    _rows(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    _rows(6)

    with django_assert_max_num_queries(len(few)):
        assert admin_client.get(url).status_code == 200


def test_usage_and_idempotency_keys_are_read_only(admin_client):
    assert admin_client.get(reverse("admin:chat_tokenusage_add")).status_code == 403
    assert admin_client.get(reverse("admin:streaming_idempotencykey_add")).status_code == 403
    assert admin_client.get(reverse("admin:streaming_idempotencykey_changelist")).status_code == 200


def test_change_pages_render(admin_client):
    chat, [pair] = linear_chat(turns=1)
    knowledge = ProjectKnowledgeFactory()

    assert admin_client.get(reverse("admin:chat_chat_change", args=[chat.pk])).status_code == 200
    assert admin_client.get(reverse("admin:chat_messagepair_change", args=[pair.pk])).status_code == 200
    assert admin_client.get(reverse("admin:chat_project_change", args=[knowledge.project.pk])).status_code == 200
