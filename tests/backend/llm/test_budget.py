"""Monthly budgets at the LLM layer: every call outside an admitted generation is checked first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from backend.llm import budget, service
from backend.llm.budget import BudgetExhausted
from backend.llm.models import LLMCall, UserBudget
from backend.llm.types import CallContext
from tests.backend.llm.helpers import make_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user():
    return get_user_model().objects.create_user("budget@example.com", "correct-horse-battery-staple")


def _spend(user, tokens: int, cost: str = "0", *, at: datetime | None = None) -> LLMCall:
    call = LLMCall.objects.create(
        user=user, purpose="chat", alias="pair", model_id="seeded", output_tokens=tokens, cost=Decimal(cost)
    )
    if at is not None:
        LLMCall.objects.filter(id=call.id).update(created_at=at)
    return call


def _request(user):
    return make_request("hello [[emu:tokens=5]]", context=CallContext(purpose="title", user_id=user.pk))


def test_a_call_over_the_token_budget_is_refused_before_the_model_is_asked(user, emulator, settings):
    settings.USER_MONTHLY_TOKEN_BUDGET = 100
    _spend(user, 100)

    with pytest.raises(BudgetExhausted) as raised:
        service.complete(_request(user))

    error = raised.value
    assert (error.status_code, error.code, error.retryable) == (402, "budget_exhausted", False)
    assert error.details["limit_tokens"] == 100 and error.details["spent_tokens"] == 100
    assert datetime.fromisoformat(error.details["reset_at"]) == budget.month_bounds()[1]
    assert emulator.requests() == []
    assert LLMCall.objects.count() == 1  # nothing recorded for the refused call


async def test_streams_are_refused_too_but_not_inside_an_admitted_generation(user, emulator, settings):
    settings.USER_MONTHLY_COST_BUDGET_USD = 0.5
    await LLMCall.objects.acreate(user=user, purpose="chat", alias="pair", model_id="seeded", cost=Decimal("0.5"))

    with pytest.raises(BudgetExhausted):
        async for _ in service.astream(_request(user)):
            pass
    assert emulator.requests() == []

    with budget.budget_admitted():
        events = [event async for event in service.astream(_request(user))]
    assert events and len(emulator.requests()) == 1


def test_last_months_spend_and_other_users_do_not_count(user, emulator, settings):
    settings.USER_MONTHLY_TOKEN_BUDGET = 1_000
    start, _ = budget.month_bounds()
    _spend(user, 5_000, at=start - timedelta(seconds=1))
    other = get_user_model().objects.create_user("other@example.com", "correct-horse-battery-staple")
    _spend(other, 5_000)

    completion = service.complete(_request(user))

    assert completion.usage.output_tokens == 5
    status = budget.budget_status(user.pk)
    assert status.spent_tokens == completion.usage.input_tokens + 5
    assert not status.exhausted


@pytest.mark.parametrize(
    ("token_override", "usd_override", "expected"),
    [
        (None, None, budget.BudgetLimits(tokens=1_000, usd=Decimal("2.5"))),  # null: the defaults
        (0, None, budget.BudgetLimits(tokens=None, usd=Decimal("2.5"))),  # 0: unlimited
        (50, Decimal(0), budget.BudgetLimits(tokens=50, usd=None)),
    ],
)
def test_an_override_replaces_the_default_per_limit(user, settings, token_override, usd_override, expected):
    settings.USER_MONTHLY_TOKEN_BUDGET = 1_000
    settings.USER_MONTHLY_COST_BUDGET_USD = 2.5
    UserBudget.objects.create(user=user, monthly_token_limit=token_override, monthly_cost_limit_usd=usd_override)

    assert budget.budget_limits(user.pk) == expected


def test_without_any_limit_a_check_reads_no_spend(user, settings, django_assert_num_queries):
    settings.USER_MONTHLY_TOKEN_BUDGET = 0
    budget.check_budget(user.pk)  # caches "no override"

    with django_assert_num_queries(0):
        budget.check_budget(user.pk)


def test_the_cached_spend_is_bumped_by_each_recorded_call(user, emulator, settings, django_assert_num_queries):
    settings.USER_MONTHLY_TOKEN_BUDGET = 10_000
    _spend(user, 100, "0.25")
    assert budget.month_spent(user.pk) == (100, Decimal("0.25"))  # summed once from the ledger

    completion = service.complete(_request(user))

    with django_assert_num_queries(0):
        tokens, usd = budget.month_spent(user.pk)
    assert tokens == 100 + completion.usage.input_tokens + completion.usage.output_tokens
    assert usd == Decimal("0.25") + completion.cost
    assert budget.budget_status(user.pk).spent_usd == budget._spent_from_ledger(user.pk, *budget.month_bounds())[1]


@pytest.mark.parametrize("store", ["redis", "locmem"])
def test_recorded_spend_is_added_only_to_sums_that_are_cached(user, settings, store):
    if store == "locmem":  # the cache API's path (no Redis: `make run`)
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    elif not settings.REDIS_URL:
        pytest.skip("no Redis")
    tokens_key, micro_key = budget._spent_keys(user.pk, budget.month_bounds()[0])
    cache.delete_many([tokens_key, micro_key])

    budget.budget_record_spend(user_id=user.pk, tokens=10, cost=Decimal("0.5"))  # nothing cached: nothing kept
    assert cache.get_many([tokens_key, micro_key]) == {}

    _spend(user, 100, "0.25")
    assert budget.month_spent(user.pk) == (100, Decimal("0.25"))  # now cached
    budget.budget_record_spend(user_id=user.pk, tokens=10, cost=Decimal("0.5"))
    budget.budget_record_spend(user_id=user.pk, tokens=5, cost=Decimal(0))
    assert budget.month_spent(user.pk) == (115, Decimal("0.75"))

    cache.delete(micro_key)  # one sum expired: both are dropped, the next read sums the ledger
    budget.budget_record_spend(user_id=user.pk, tokens=1, cost=Decimal("0.1"))
    assert cache.get_many([tokens_key, micro_key]) == {}
    assert budget.month_spent(user.pk) == (100, Decimal("0.25"))


def test_the_month_rolls_over_on_the_first_in_utc():
    start, end = budget.month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_changing_an_override_in_the_admin_applies_at_once(user, settings, admin_client):
    settings.USER_MONTHLY_TOKEN_BUDGET = 0
    _spend(user, 500)
    budget.check_budget(user.pk)  # unlimited, cached

    response = admin_client.post(
        "/admin/llm/userbudget/add/",
        {"user": user.pk, "monthly_token_limit": "400", "monthly_cost_limit_usd": "", "note": "trial"},
    )

    assert response.status_code == 302, response.content
    with pytest.raises(BudgetExhausted):
        budget.check_budget(user.pk)
    page = admin_client.get(f"/admin/llm/userbudget/{user.pk}/change/")
    assert b"500 tokens" in page.content


@pytest.mark.parametrize(("before", "answer", "warned"), [(70, 15, True), (85, 5, False), (10, 20, False)])
def test_the_crossing_is_the_same_with_the_answers_rows_held_as_with_them_written(
    user, settings, before, answer, warned
):
    """An answer's ledger rows are written with its terminal state, after the warning is decided."""
    settings.USER_MONTHLY_TOKEN_BUDGET = 100
    _spend(user, before)

    held = budget.budget_crossed_warning(user_id=user.id, tokens=answer, cost=Decimal(0), pending_tokens=answer)
    _spend(user, answer)
    budget.budget_record_spend(user_id=user.id, tokens=answer, cost=Decimal(0))  # as writing the row does
    written = budget.budget_crossed_warning(user_id=user.id, tokens=answer, cost=Decimal(0))

    assert (held is not None, written is not None) == (warned, warned)
    if warned:
        assert (held.spent_tokens, written.spent_tokens) == (before + answer, before + answer)
