"""Cache-backed rate limits and soft lockouts (the cache is Redis when reachable)."""

from unittest import mock

import pytest

from backend import ratelimit
from backend.ratelimit import Lockout, Rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    """A controllable clock for the module (no sleeping)."""
    now = [1_700_000_000.0]
    with mock.patch.object(ratelimit, "now", side_effect=lambda: now[0]):
        yield now


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [("10/m", 10, 60), ("5/15m", 5, 900), ("100/h", 100, 3600), ("3/day", 3, 86400), ("1/s", 1, 1)],
)
def test_rates_parse(text, limit, window):
    assert Rate.parse(text) == Rate(limit=limit, window=window)


@pytest.mark.parametrize("text", ["", "ten/m", "5/x", "5"])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError, match="Invalid rate"):
        Rate.parse(text)


def test_hits_within_the_limit_pass_and_the_next_is_refused_for_retry_after(clock):
    clock[0] = 1_700_000_020.0  # 40 s into a one-minute window
    decisions = [ratelimit.hit("test", "1.2.3.4", "3/m") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    # The window ends in 20 s; then its 3 hits weigh 3 * (60 - e) / 60 until e = 20 s.
    assert decisions[-1].retry_after == 40

    clock[0] += 39
    assert not ratelimit.hit("test", "1.2.3.4", "3/m").allowed
    clock[0] += 1
    assert ratelimit.hit("test", "1.2.3.4", "3/m").allowed


def test_a_burst_at_a_window_boundary_cannot_double_the_limit(clock):
    clock[0] = 1_700_000_039.0  # one second before the window ends
    assert all(ratelimit.hit("test", "k", "3/m").allowed for _ in range(3))

    clock[0] += 2  # a fresh fixed window, but the last minute already holds 3 events
    decision = ratelimit.hit("test", "k", "3/m")

    assert not decision.allowed
    assert decision.retry_after == 20  # until two thirds of the previous window slid out


def test_refused_hits_are_not_counted(clock):
    clock[0] = 1_700_000_000.0  # 20 s into a window
    outcomes = [ratelimit.hit("test", "k", "2/m").allowed for _ in range(12)]
    assert outcomes == [True, True] + [False] * 10

    clock[0] += 60  # 20 s into the next window: the 2 allowed hits weigh 2 * 40 / 60
    decision = ratelimit.hit("test", "k", "2/m")
    assert not decision.allowed
    assert decision.retry_after == 10  # had the 10 refusals counted, it would be 35
    clock[0] += 10
    assert ratelimit.hit("test", "k", "2/m").allowed


def test_an_event_given_back_no_longer_counts_and_a_refused_one_has_nothing_to_give(clock):
    first = ratelimit.hit("test", "k", "2/m")
    ratelimit.give_back(first)  # its caller was refused for another reason
    assert [ratelimit.hit("test", "k", "2/m").allowed for _ in range(3)] == [True, True, False]

    refused = ratelimit.hit("test", "k", "2/m")
    ratelimit.give_back(refused)  # never counted: the two allowed ones stay
    assert not ratelimit.hit("test", "k", "2/m").allowed

    clock[0] += 3 * 60  # both windows expired: nothing left to give back, nothing raised
    ratelimit.give_back(first)


def test_identifiers_and_scopes_are_counted_separately(clock):
    ratelimit.hit("test", "a", "1/m")

    assert not ratelimit.hit("test", "a", "1/m").allowed
    assert ratelimit.hit("test", "b", "1/m").allowed
    assert ratelimit.hit("other", "a", "1/m").allowed


def test_reset_forgets_the_current_window(clock):
    ratelimit.hit("test", "a", "1/m")
    ratelimit.reset("test", "a", "1/m")

    assert ratelimit.hit("test", "a", "1/m").allowed


def test_cache_keys_do_not_contain_the_identifier(clock):
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    ratelimit.hit("login", "victim@example.com", "1/m")

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        stored = [key.decode() for key in backend._cache.get_client().keys("*")]
    else:
        stored = list(backend._cache.keys())  # type: ignore[attr-defined]
    assert any(":rl:login:" in key for key in stored)
    assert not any("victim" in key for key in stored)


POLICY = Lockout(scope="test-login", threshold=3, window=900, base=60, maximum=240)


def test_lockout_after_threshold_failures_expires_on_its_own(clock):
    assert POLICY.register_failure("acct") == 0
    assert POLICY.register_failure("acct") == 0
    assert POLICY.register_failure("acct") == 60
    assert POLICY.remaining("acct") == 60

    clock[0] += 59
    assert POLICY.remaining("acct") == 1
    clock[0] += 1
    assert POLICY.remaining("acct") == 0


def test_each_further_lockout_doubles_up_to_the_maximum(clock):
    durations = []
    for _ in range(5):
        for _ in range(POLICY.threshold):
            locked = POLICY.register_failure("acct")
        durations.append(locked)
        clock[0] += locked

    assert durations == [60, 120, 240, 240, 240]


def test_clear_unlocks_and_can_forget_the_backoff(clock):
    for _ in range(3):
        POLICY.register_failure("acct")
    POLICY.clear("acct", forget_history=True)

    assert POLICY.remaining("acct") == 0
    for _ in range(3):
        locked = POLICY.register_failure("acct")
    assert locked == 60


def test_lockouts_are_per_key(clock):
    for _ in range(3):
        POLICY.register_failure("victim")

    assert POLICY.remaining("victim") == 60
    assert POLICY.remaining("someone-else") == 0


@pytest.mark.redis
def test_counters_live_in_the_shared_cache_backend(settings, clock):
    """With REDIS_URL set (tests use db 15), counts are in Redis and survive a fresh cache handle."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    assert isinstance(caches["default"], RedisCache)
    ratelimit.hit("shared", "k", "1/m")

    fresh = RedisCache(settings.CACHES["default"]["LOCATION"], {"KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"]})
    key = ratelimit._key("shared", "k", str(int(clock[0] // 60) * 60))
    assert fresh.get(key) == 1


def test_reservations_never_let_more_than_the_threshold_through_and_a_lock_starts_afresh(clock):
    decisions = [POLICY.reserve("acct") for _ in range(6)]

    assert decisions[:3] == [0, 0, 0]  # three attempts may be evaluated
    assert decisions[3:] == [60, 60, 60]  # the fourth locks; it and the rest are refused unevaluated
    clock[0] += 60
    # After the lock, a new budget (the failures behind the lock are not counted again).
    assert [POLICY.reserve("acct") for _ in range(4)] == [0, 0, 0, 120]


def test_a_reserved_failure_locks_at_the_threshold_and_a_success_clears_the_count(clock):
    for _ in range(2):
        assert POLICY.reserve("acct") == 0
        assert POLICY.register_failure("acct", reserved=True) == 0
    assert POLICY.reserve("acct") == 0
    POLICY.clear("acct")  # the third attempt succeeded

    assert [POLICY.reserve("acct") for _ in range(3)] == [0, 0, 0]
    assert POLICY.register_failure("acct", reserved=True) == 60


@pytest.mark.redis
def test_a_check_on_redis_is_one_round_trip(settings, clock):
    """The Lua script reads both windows and counts in one command; a refusal un-counts in it too."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from redis.connection import Connection

    if not isinstance(caches["default"], RedisCache):
        pytest.skip("REDIS_URL is not set")
    ratelimit.hit("trips", "warm", "1/m")  # loads the script once
    sent = []
    original = Connection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    with mock.patch.object(Connection, "send_packed_command", counting):
        allowed = ratelimit.hit("trips", "k", "1/m")
        refused = ratelimit.hit("trips", "k", "1/m")

    assert (allowed.allowed, refused.allowed) == (True, False)
    assert len(sent) == 2


@pytest.mark.parametrize("offset", [0.0, 12.25, 59.5])
def test_redis_script_and_cache_api_decide_alike(settings, clock, offset):
    """The same sequence of hits gets the same decisions from the script as from the cache steps."""
    from django.core.cache import cache, caches
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(caches["default"], RedisCache):
        pytest.skip("REDIS_URL is not set")
    clock[0] = 1_700_000_040.0 + offset
    rate = Rate.parse("4/m")
    redis_side = []
    for step in range(12):
        redis_side.append(ratelimit.hit("alike", "k", rate))
        clock[0] += 7.5 if step % 3 else 0.25
    cache.clear()
    clock[0] = 1_700_000_040.0 + offset
    with mock.patch.object(ratelimit, "_hit_redis", side_effect=lambda backend, *a, **k: ratelimit._hit_cache(*a, **k)):
        cache_side = []
        for step in range(12):
            cache_side.append(ratelimit.hit("alike", "k", rate))
            clock[0] += 7.5 if step % 3 else 0.25

    assert redis_side == cache_side
    assert any(not decision.allowed for decision in redis_side)
