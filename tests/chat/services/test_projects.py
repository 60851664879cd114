"""Project and knowledge services: token counts and the budget."""

from __future__ import annotations

import pytest

from backend.errors import ValidationFailed
from chat.models import ProjectKnowledge
from chat.services import projects as services
from tests.chat.factories import ProjectFactory, ProjectKnowledgeFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_knowledge_create_counts_tokens_with_the_estimator():
    project = ProjectFactory()

    knowledge = services.knowledge_create(user=project.user, project_id=project.id, title="t", content="a" * 7)

    assert knowledge.token_count == 2  # ceil(7 / 3.5)


def test_budget_is_exactly_inclusive(settings):
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 20
    settings.CHAT_KNOWLEDGE_OVER_BUDGET = "refuse"
    project = ProjectFactory()
    services.knowledge_create(user=project.user, project_id=project.id, title="a", content="x" * 35)  # 10

    services.knowledge_create(user=project.user, project_id=project.id, title="b", content="x" * 35)  # 20 = budget
    with pytest.raises(ValidationFailed) as raised:
        services.knowledge_create(user=project.user, project_id=project.id, title="c", content="x")

    assert raised.value.code == "knowledge_budget_exceeded"
    assert raised.value.details == {"budget": 20, "used": 20, "requested": 1}
    assert ProjectKnowledge.objects.filter(project=project).count() == 2


def test_over_budget_knowledge_is_accepted_for_retrieval_by_default(settings):
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 5
    project = ProjectFactory()

    knowledge = services.knowledge_create(user=project.user, project_id=project.id, title="big", content="x" * 350)

    assert knowledge.include_in_chat and knowledge.token_count == 100


def test_budget_is_per_project(settings):
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 10
    user = UserFactory()
    full = ProjectFactory(user=user)
    empty = ProjectFactory(user=user)
    ProjectKnowledgeFactory(project=full, token_count=10)

    knowledge = services.knowledge_create(user=user, project_id=empty.id, title="t", content="x" * 35)

    assert knowledge.project == empty


def test_knowledge_toggle_excluding_never_fails(settings):
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 1
    knowledge = ProjectKnowledgeFactory(token_count=500)  # over budget already (budget was lowered)

    assert services.knowledge_toggle(knowledge=knowledge).include_in_chat is False


def test_project_update_ignores_unknown_fields():
    project = ProjectFactory(name="old")

    services.project_update(project=project, changes={"name": "new", "user_id": 0})

    project.refresh_from_db()
    assert project.name == "new"
