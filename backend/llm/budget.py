"""Monthly per-user budgets on model usage, enforced where every model call passes.

A user's budget is a monthly token limit and/or a monthly cost limit (USD). The defaults come
from settings (`USER_MONTHLY_TOKEN_BUDGET`, `USER_MONTHLY_COST_BUDGET_USD`; 0 = unlimited); a
`UserBudget` row (admin) overrides either for one user (null = the default, 0 = unlimited).
What was spent is the `LLMCall` ledger of the calendar month in UTC: input, output, cache read
and cache write tokens, and cost.

Enforcement happens at two points, both through `check_budget(user_id)`:

- the streaming engine's admission (`backend.streaming.engine.Engine.admit`), before any
  upstream call, so the client gets `402 budget_exhausted` in the error shape instead of a
  stream; a generation that was admitted runs to its end even when it crosses the limit (the
  engine's run marks itself with `budget_admitted()`, so the calls it makes are not checked again);
- every call of `backend.llm.service` outside such a run (titles, memory, the admin assistant's
  titles, any later feature): it raises the same error, a `LLMError` subclass that is not
  retryable, so background tasks drop the work instead of retrying.

The month's spend is cached per user and bumped when a ledger row is written, so a check is one
cache round trip (plus one aggregate on a cold cache). The cached sum expires after
`USER_BUDGET_CACHE_SECONDS`, which bounds any drift from a race between a bump and a refill.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import F, Sum
from django.utils import timezone

from backend.errors import ErrorCode
from backend.llm.errors import FailureKind, LLMError

logger = logging.getLogger(__name__)

MICRO = Decimal("0.000001")
_NO_OVERRIDE = "none"

_admitted: contextvars.ContextVar[bool] = contextvars.ContextVar("llm_budget_admitted", default=False)


class BudgetExhausted(LLMError):
    """The user's monthly budget is used up: HTTP 402 `budget_exhausted`, never retryable.

    `details`: `reset_at` (ISO 8601, UTC: the start of next month), `spent_tokens`,
    `spent_usd`, `limit_tokens`, `limit_usd` (null = no such limit).
    """

    def __init__(self, status: BudgetStatus) -> None:
        super().__init__(FailureKind.CLIENT_ERROR, provider_code="budget_exhausted")
        self.message = "Your monthly usage budget is used up. It resets at the start of next month."
        self.args = (self.message,)
        self.code = ErrorCode.BUDGET_EXHAUSTED
        self.status_code = 402
        self.details = status.as_details()


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    tokens: int | None  # None: no token limit
    usd: Decimal | None  # None: no cost limit

    @property
    def unlimited(self) -> bool:
        return self.tokens is None and self.usd is None


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    limits: BudgetLimits
    spent_tokens: int
    spent_usd: Decimal
    resets_at: datetime

    @property
    def ratio(self) -> float:
        """The larger share of a limit spent (0 without limits)."""
        shares = []
        if self.limits.tokens is not None:
            shares.append(self.spent_tokens / self.limits.tokens)
        if self.limits.usd is not None:
            shares.append(float(self.spent_usd / self.limits.usd))
        return max(shares, default=0.0)

    @property
    def exhausted(self) -> bool:
        tokens = self.limits.tokens is not None and self.spent_tokens >= self.limits.tokens
        usd = self.limits.usd is not None and self.spent_usd >= self.limits.usd
        return tokens or usd

    @property
    def warning(self) -> bool:
        return self.ratio >= float(settings.USER_BUDGET_WARNING_RATIO)

    def as_details(self) -> dict[str, Any]:
        return {
            "reset_at": self.resets_at.isoformat(),
            "spent_tokens": self.spent_tokens,
            "spent_usd": str(self.spent_usd.quantize(MICRO)),
            "limit_tokens": self.limits.tokens,
            "limit_usd": str(self.limits.usd) if self.limits.usd is not None else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """The `budget` object of the usage endpoint."""
        return {
            "limit_tokens": self.limits.tokens,
            "limit_usd": self.limits.usd,
            "spent_tokens": self.spent_tokens,
            "spent_usd": self.spent_usd.quantize(MICRO),
            "resets_at": self.resets_at,
            "warning": self.warning,
            "exhausted": self.exhausted,
        }


# --- The month ----------------------------------------------------------------------------------------


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of the current calendar month in UTC and the start of the next one."""
    now = (now or timezone.now()).astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _spent_keys(user_id: Any, month: datetime) -> tuple[str, str]:
    stamp = f"{month.year:04d}{month.month:02d}"
    return f"llm:budget:{user_id}:{stamp}:tokens", f"llm:budget:{user_id}:{stamp}:micro_usd"


def _limits_key(user_id: Any) -> str:
    return f"llm:budget:{user_id}:limits"


# --- Limits ---------------------------------------------------------------------------------------------


def _default_limits() -> tuple[int | None, Decimal | None]:
    tokens = int(settings.USER_MONTHLY_TOKEN_BUDGET or 0)
    usd = Decimal(str(settings.USER_MONTHLY_COST_BUDGET_USD or 0))
    return (tokens or None), (usd if usd > 0 else None)


def budget_limits(user_id: Any) -> BudgetLimits:
    """The user's limits: the override where set, else the default (cached; `budget_forget` clears)."""
    cached = cache.get(_limits_key(user_id))
    if cached is None:
        from backend.llm.models import UserBudget

        row = (
            UserBudget.objects.filter(user_id=user_id)
            .values_list("monthly_token_limit", "monthly_cost_limit_usd")
            .first()
        )
        cached = _NO_OVERRIDE if row is None else [row[0], None if row[1] is None else str(row[1])]
        cache.set(_limits_key(user_id), cached, settings.USER_BUDGET_CACHE_SECONDS)
    return _limits(cached)


def _limits(override: Any) -> BudgetLimits:
    """The limits from an override as cached (`_NO_OVERRIDE`, or [tokens or None, USD text or None])."""
    default_tokens, default_usd = _default_limits()
    if override == _NO_OVERRIDE:
        return BudgetLimits(tokens=default_tokens, usd=default_usd)
    token_override, usd_override = override
    tokens = default_tokens if token_override is None else (int(token_override) or None)
    usd = default_usd if usd_override is None else (Decimal(usd_override) or None)
    return BudgetLimits(tokens=tokens, usd=usd)


def limits_columns(user: str) -> str:
    """Three SQL columns holding the override of the user whose id is the SQL expression `user`.

    For a statement that reads something else about the user anyway (the running-answers count
    of admission): the limits then come from the table itself in that round trip
    (`limits_from_columns`), not from the cache in another one, and are never stale.
    """
    from django.db import connection

    from backend.db import quoted_column
    from backend.llm.models import UserBudget

    table = connection.ops.quote_name(UserBudget._meta.db_table)
    key, tokens, usd = (
        quoted_column(UserBudget, name) for name in ("user", "monthly_token_limit", "monthly_cost_limit_usd")
    )
    row = f"FROM {table} b WHERE b.{key} = {user}"
    return f"(SELECT 1 {row}), (SELECT b.{tokens} {row}), (SELECT CAST(b.{usd} AS TEXT) {row})"


def limits_from_columns(found: Any, tokens: Any, usd: str | None) -> BudgetLimits:
    """`budget_limits` from the values of `limits_columns`."""
    return _limits(_NO_OVERRIDE if found is None else [tokens, usd])


def budget_forget(user_id: Any) -> None:
    """Drop the cached limits of a user (after their override changed)."""
    cache.delete(_limits_key(user_id))


# --- Spent ----------------------------------------------------------------------------------------------


def _spent_from_ledger(user_id: Any, start: datetime, end: datetime) -> tuple[int, Decimal]:
    from backend.llm.models import LLMCall

    row = LLMCall.objects.filter(user_id=user_id, created_at__gte=start, created_at__lt=end).aggregate(
        tokens=Sum(F("input_tokens") + F("output_tokens") + F("cache_read_tokens") + F("cache_write_tokens")),
        cost=Sum("cost"),
    )
    return int(row["tokens"] or 0), Decimal(row["cost"] or 0)


def month_spent(user_id: Any, *, now: datetime | None = None) -> tuple[int, Decimal]:
    """Tokens and USD the user spent this calendar month (UTC), from the cache or the ledger."""
    start, end = month_bounds(now)
    tokens_key, micro_key = _spent_keys(user_id, start)
    found = cache.get_many([tokens_key, micro_key])
    if tokens_key in found and micro_key in found:
        return int(found[tokens_key]), Decimal(int(found[micro_key])) * MICRO
    tokens, cost = _spent_from_ledger(user_id, start, end)
    timeout = settings.USER_BUDGET_CACHE_SECONDS
    # add, not set: a bump that raced ahead of this refill is not overwritten with an older sum.
    cache.add(tokens_key, tokens, timeout)
    cache.add(micro_key, int((cost / MICRO).to_integral_value()), timeout)
    return tokens, cost


def budget_record_spend(*, user_id: Any, tokens: int, cost: Decimal, at: datetime | None = None) -> None:
    """Add a written ledger row to the cached month sum (nothing to do while it is not cached)."""
    if user_id is None or (tokens <= 0 and cost <= 0):
        return
    start, _ = month_bounds(at)
    tokens_key, micro_key = _spent_keys(user_id, start)
    micro = int((cost / MICRO).to_integral_value())
    try:
        backend = caches["default"]  # `cache` is a proxy: the backend itself tells which store this is
        if isinstance(backend, RedisCache):
            _add_redis(backend, {tokens_key: max(tokens, 0), micro_key: max(micro, 0)})
            return
        if tokens > 0:
            cache.incr(tokens_key, tokens)
        if micro > 0:
            cache.incr(micro_key, micro)
    except ValueError:
        # Not cached (or expired meanwhile): the next check sums the ledger, which has the row.
        cache.delete_many([tokens_key, micro_key])
    except Exception:
        logger.warning("could not update the cached budget spend of user %s", user_id, exc_info=True)


# KEYS: the cached month sums; ARGV: what to add to each. Both or neither: when one is not cached
# (never read this month, or expired), both are dropped and the next check sums the ledger.
_ADD_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('DEL', unpack(KEYS))
    return 0
  end
end
for i = 1, #KEYS do redis.call('INCRBY', KEYS[i], ARGV[i]) end
return 1
"""
_add_script: Any = None  # the registered `_ADD_SCRIPT` (it holds its SHA; any client of the cache can run it)


def _add_redis(backend: RedisCache, amounts: dict[str, int]) -> None:
    """`budget_record_spend`'s additions in one Redis round trip (the cache API's `incr` makes two
    per key, an EXISTS and an INCRBY, and a third to drop the sums that were not cached)."""
    global _add_script
    keys = [backend.make_and_validate_key(key) for key in amounts]
    client = backend._cache.get_client(keys[0], write=True)
    if _add_script is None:
        _add_script = client.register_script(_ADD_SCRIPT)
    _add_script(keys=keys, args=list(amounts.values()), client=client)


# --- Checks ---------------------------------------------------------------------------------------------


def budget_status(user_id: Any, *, now: datetime | None = None) -> BudgetStatus:
    """Limits, this month's spend and when it resets, for one user."""
    limits = budget_limits(user_id)
    tokens, usd = month_spent(user_id, now=now)
    return BudgetStatus(limits=limits, spent_tokens=tokens, spent_usd=usd, resets_at=month_bounds(now)[1])


def check_budget(user_id: Any, limits: BudgetLimits | None = None) -> BudgetLimits | None:
    """Raise BudgetExhausted when the user has used up a monthly limit. No user: nothing to check.

    Returns the limits it read (None without a user), which a generation keeps for its
    end-of-answer warning. Without any limit for the user this costs one cache read (the spend
    is not even looked at), or none when the caller read the `limits` already.
    """
    if user_id is None:
        return None
    if limits is None:
        limits = budget_limits(user_id)
    if limits.unlimited:
        return limits
    tokens, usd = month_spent(user_id)
    status = BudgetStatus(limits=limits, spent_tokens=tokens, spent_usd=usd, resets_at=month_bounds()[1])
    if status.exhausted:
        raise BudgetExhausted(status)
    return limits


def check_call_budget(user_id: Any) -> None:
    """`check_budget` for one model call: skipped inside a generation that admission let in."""
    if not _admitted.get():
        check_budget(user_id)


async def acheck_call_budget(user_id: Any) -> None:
    """Async `check_call_budget` (the database work on a database thread)."""
    if user_id is not None and not _admitted.get():
        from backend.db import db_sync_to_async

        await db_sync_to_async(check_budget)(user_id)


@contextlib.contextmanager
def budget_admitted() -> Iterator[None]:
    """Inside: model calls are not budget-checked (the generation was checked at admission)."""
    token = _admitted.set(True)
    try:
        yield
    finally:
        _admitted.reset(token)


def mark_admitted() -> None:
    """Mark the current context (an asyncio task's own) as an admitted generation."""
    _admitted.set(True)


def budget_crossed_warning(
    *,
    user_id: Any,
    tokens: int,
    cost: Decimal,
    pending_tokens: int = 0,
    pending_cost: Decimal = Decimal(0),
    limits: BudgetLimits | None = None,
) -> BudgetStatus | None:
    """The status when the last `tokens`/`cost` took the user over the warning ratio.

    They are in the ledger but for `pending_tokens`/`pending_cost`, a part about to be written
    (a generation's held rows, written with its terminal state). None when the user has no
    limit, was over it before, or is still under it. `limits`: the user's limits as read when
    the work was admitted (`check_budget`), so they are not read again; read when not given.
    """
    if user_id is None or (tokens <= 0 and cost <= 0):
        return None
    if limits is None:
        limits = budget_limits(user_id)
    if limits.unlimited:
        return None
    spent_tokens, spent_usd = month_spent(user_id)
    spent_tokens, spent_usd = spent_tokens + pending_tokens, spent_usd + pending_cost
    status = BudgetStatus(limits=limits, spent_tokens=spent_tokens, spent_usd=spent_usd, resets_at=month_bounds()[1])
    if not status.warning:
        return None
    before = BudgetStatus(
        limits=status.limits,
        spent_tokens=max(0, status.spent_tokens - tokens),
        spent_usd=max(Decimal(0), status.spent_usd - cost),
        resets_at=status.resets_at,
    )
    return None if before.warning else status
