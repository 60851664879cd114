"""The chat adapter prepares a turn in the admission's database hop: context and tools together."""

from __future__ import annotations

import pytest

from backend.streaming.engine import Admission
from chat.models import Message, Project
from chat.services.generation import ChatAdapter, Turn, _tool_setup, admission_of
from chat.services.messages import message_send
from tests.chat.factories import ProjectFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _prepared(admission: Admission) -> Turn:
    ChatAdapter().prepare(admission)
    turn: Turn = admission.payload
    return turn


def _offered(tools):
    offered, context = tools
    if context is None:
        return [tool.name for tool in offered], None
    return [tool.name for tool in offered], (context.user.id, context.chat_id, context.project_id, context.reference)


@pytest.mark.parametrize("follow_up", [False, True], ids=["new chat", "follow-up"])
def test_admission_chooses_the_tools_the_run_would_read(follow_up):
    user = UserFactory()
    project = ProjectFactory(user=user)
    accepted = message_send(user=user, content="first", project_id=project.id)
    if follow_up:
        accepted = message_send(user=user, content="second", chat_id=accepted.chat.id)

    turn = _prepared(admission_of(accepted))

    assert turn.tools is not None and turn.built is not None
    offered, context = _offered(turn.tools)
    assert offered  # tools are on by default
    assert context == (user.id, accepted.chat.id, project.id, f"chat.message:{accepted.assistant_message.id}")
    assert _offered(turn.tools) == _offered(_tool_setup(assistant_message_id=accepted.assistant_message.id))


@pytest.mark.parametrize("switched_off", ["chat", "project"])
def test_tools_switched_off_are_not_offered_on_a_follow_up(switched_off):
    user = UserFactory()
    project = ProjectFactory(user=user)
    first = message_send(user=user, content="first", project_id=project.id)
    if switched_off == "chat":
        first.chat.__class__.objects.filter(id=first.chat.id).update(tools_enabled=False)
    else:
        Project.objects.filter(id=project.id).update(tools_enabled=False)

    turn = _prepared(admission_of(message_send(user=user, content="second", chat_id=first.chat.id)))

    assert turn.tools == ([], None)
    assert _tool_setup(assistant_message_id=turn.assistant_message.id) == ([], None)


def test_preparing_a_new_chat_reads_neither_the_chat_nor_the_memory_switch_again(django_assert_num_queries):
    user = UserFactory()
    accepted = message_send(user=user, content="Hello there")

    # The memories, with the memory switch in the same query; the tools come from the written chat.
    with django_assert_num_queries(1):
        turn = _prepared(admission_of(accepted))

    assert turn.tools is not None and turn.tools[1] is not None


def test_the_running_count_is_the_running_querysets_count(django_assert_num_queries):
    adapter = ChatAdapter()
    user, other = UserFactory(), UserFactory()
    first, second = message_send(user=user, content="one"), message_send(user=user, content="two")
    message_send(user=other, content="theirs")
    Message.objects.filter(id=second.assistant_message.id).update(status=Message.Status.COMPLETE)

    with django_assert_num_queries(1):
        assert adapter.running_count(user=user)[0] == 1
    assert adapter.running(user=user).count() == 1
    Message.objects.filter(id=first.assistant_message.id).update(status=Message.Status.CANCELLED)
    assert adapter.running_count(user=user)[0] == adapter.running(user=user).count() == 0


def test_the_running_count_reads_the_users_budget_limits_in_the_same_statement(settings, django_assert_num_queries):
    from decimal import Decimal

    from backend.llm.budget import BudgetLimits, budget_forget, budget_limits
    from backend.llm.models import UserBudget

    settings.USER_MONTHLY_TOKEN_BUDGET, settings.USER_MONTHLY_COST_BUDGET_USD = 1000, 5
    adapter = ChatAdapter()
    user = UserFactory()
    with django_assert_num_queries(1):
        assert adapter.running_count(user=user) == (0, BudgetLimits(tokens=1000, usd=Decimal(5)))  # the defaults
    for tokens, usd in ((None, Decimal("12.50")), (0, None), (250, Decimal(0)), (None, None)):
        UserBudget.objects.update_or_create(
            user=user, defaults={"monthly_token_limit": tokens, "monthly_cost_limit_usd": usd}
        )
        expected = budget_limits(user.id)  # read from the table: nothing cached it yet
        assert adapter.running_count(user=user) == (0, expected)
        budget_forget(user.id)
