"""Tool calls run outside a stream: permission, schema and ownership checks, results, audit, confirmation."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.contrib.auth.models import Permission

from backend.errors import Conflict, NotFound
from chat.models import Chat, Project
from prototypes.models import DesignProject
from tests.chat.factories import ChatFactory, ProjectFactory
from tests.factories import UserFactory
from tools.models import ToolCallAudit
from tools.registry import ToolContext, tool_get, tools_all
from tools.services import confirmation
from tools.services.execution import call_audit, call_perform, tool_allowed

pytestmark = pytest.mark.django_db


def perform(user, name, tool_input, **context):
    return call_perform(
        context=ToolContext(user=user, **context), tool=tool_get(name), name=name, tool_input=tool_input
    )


def test_every_built_in_tool_has_an_object_schema_and_a_kind():
    tools = {tool.name: tool for tool in tools_all()}
    assert set(tools) >= {
        "search_my_chats",
        "search_project_knowledge",
        "list_projects",
        "create_project",
        "add_knowledge",
        "start_prototype",
        "show_my_usage",
        "archive_chat",
        "delete_knowledge",
    }
    assert {tool.kind.value for tool in tools.values()} == {"read", "write", "destructive"}
    assert tools["delete_knowledge"].kind == "destructive" and tools["delete_knowledge"].summary is not None


def test_a_required_permission_hides_the_tool_and_refuses_a_call_until_granted(settings):
    settings.TOOLS_REQUIRED_PERMISSIONS = {"create_project": "chat.add_project"}
    user = UserFactory()
    tool = tool_get("create_project")
    assert not tool_allowed(user=user, tool=tool)

    refused = perform(user, "create_project", {"name": "X"})

    assert (refused.outcome, refused.is_error) == ("denied", True)
    assert not Project.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    user = type(user).objects.get(id=user.id)  # permissions are cached per instance
    assert perform(user, "create_project", {"name": "X"}).outcome == "ok"


def test_an_unknown_tool_is_denied_and_an_invalid_input_runs_nothing():
    user = UserFactory()
    assert perform(user, "drop_database", {}).outcome == "denied"
    invalid = perform(user, "archive_chat", {"chat_id": 3, "extra": True})
    assert invalid.outcome == "invalid" and "Nothing was run" in invalid.content


def test_a_malformed_or_foreign_id_is_not_found_and_the_object_is_untouched():
    owner, other = UserFactory(), UserFactory()
    chat = ChatFactory(user=owner, title="Private")
    for chat_id in (str(chat.id), "not-a-uuid"):
        result = perform(other, "archive_chat", {"chat_id": chat_id})
        assert result.outcome == "error" and "chat_not_found" in result.content and "Private" not in result.content
    assert not Chat.objects.get(id=chat.id).archived
    assert perform(owner, "archive_chat", {"chat_id": str(chat.id)}).outcome == "ok"
    assert Chat.objects.get(id=chat.id).archived


def test_project_tools_default_to_the_chats_project_and_add_knowledge():
    user = UserFactory()
    project = ProjectFactory(user=user, name="Thesis")

    added = perform(
        user, "add_knowledge", {"title": "Notes", "content": "Tides follow the moon."}, project_id=project.id
    )
    outside = perform(user, "add_knowledge", {"title": "Notes", "content": "x"})

    assert added.outcome == "ok" and added.data["project_id"] == str(project.id)
    assert outside.outcome == "error" and "project_not_found" in outside.content
    listed = perform(user, "list_projects", {})
    assert [p["name"] for p in listed.data["projects"]] == ["Thesis"]


def test_start_prototype_prepares_a_design_project_once_and_says_how_to_generate():
    user = UserFactory()

    first = perform(user, "start_prototype", {"name": "Landing page", "idea": "A page for a bakery"})
    again = perform(user, "start_prototype", {"name": "Landing page", "idea": "A page for a bakery"})

    assert first.data["design_project_id"] == again.data["design_project_id"]
    assert DesignProject.objects.filter(user=user).count() == 1
    assert "/api/v1/prototypes/generate/" in first.data["next_step"]


def test_show_my_usage_and_search_my_chats_read_only_the_users_data():
    user, other = UserFactory(), UserFactory()
    ChatFactory(user=user, title="Tides of the north sea")
    ChatFactory(user=other, title="Tides elsewhere")

    found = perform(user, "search_my_chats", {"query": "tides"})

    assert [chat["title"] for chat in found.data["chats"]] == ["Tides of the north sea"]
    assert perform(user, "show_my_usage", {"days": 7}).data["calls"] == 0


def test_every_call_is_audited_with_its_outcome_and_duration():
    user = UserFactory()
    context = ToolContext(user=user, reference="chat.message:x")
    result = perform(user, "list_projects", {})

    call_audit(
        context=context,
        tool=tool_get("list_projects"),
        name="list_projects",
        call_id="c1",
        tool_input={},
        result=result,
        began=time.perf_counter(),
    )

    audit = ToolCallAudit.objects.get()
    assert (audit.user, audit.tool, audit.kind, audit.outcome, audit.reference) == (
        user,
        "list_projects",
        "read",
        "ok",
        "chat.message:x",
    )


def test_a_decision_is_taken_once_and_only_from_the_user_asked(settings):
    settings.TOOLS_CONFIRM_TIMEOUT_SECONDS = 5
    user, other = UserFactory(), UserFactory()
    confirmation.confirmation_open(reference="r", call_id="c", user_id=user.pk, tool="delete_knowledge", summary="s")

    with pytest.raises(NotFound):
        confirmation.confirmation_decide(reference="r", call_id="c", user_id=other.pk, decision="confirmed")
    assert confirmation.confirmation_decide(reference="r", call_id="c", user_id=user.pk, decision="rejected")
    assert confirmation.confirmation_decide(reference="r", call_id="c", user_id=user.pk, decision="rejected")
    with pytest.raises(Conflict):
        confirmation.confirmation_decide(reference="r", call_id="c", user_id=user.pk, decision="confirmed")
    assert asyncio.run(confirmation.confirmation_await(reference="r", call_id="c")) == "rejected"
