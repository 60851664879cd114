"""A parallel burst of logins for one account never gets more passwords evaluated than the lockout threshold."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.contrib.auth import authenticate
from django.db import connection

from appauth import services
from appauth.errors import AccountLocked, InvalidCredentials
from appauth.services import login as login_module
from tests.appauth.factories import CLIENT
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

BURST = 12


@pytest.mark.parametrize("round_", range(3))
def test_a_parallel_burst_evaluates_at_most_threshold_passwords(settings, production_hashers, capsys, round_):
    settings.AUTH_LOCKOUT_THRESHOLD = 5
    user = UserFactory()
    passwords = [f"wrong guess number {n}" for n in range(BURST - 1)] + [DEFAULT_PASSWORD]
    evaluated: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(BURST)

    def counting_authenticate(*args, **kwargs):
        with lock:
            evaluated.append(kwargs["password"])
        return authenticate(*args, **kwargs)

    def attempt(password: str) -> str:
        start.wait(timeout=30)
        try:
            services.user_login(email=user.email, password=password, client=CLIENT)
            return "ok"
        except AccountLocked:
            return "locked"
        except InvalidCredentials:
            return "invalid"
        finally:
            connection.close()

    with (
        mock.patch.object(login_module, "authenticate", side_effect=counting_authenticate),
        ThreadPoolExecutor(BURST) as pool,
    ):
        outcomes = list(pool.map(attempt, passwords))

    threshold = settings.AUTH_LOCKOUT_THRESHOLD
    with capsys.disabled():
        print(f"\nlockout burst: {len(evaluated)} of {BURST} passwords evaluated, threshold {threshold}")
    assert len(evaluated) <= settings.AUTH_LOCKOUT_THRESHOLD, (len(evaluated), outcomes)
    # The right password got in only if it was one of the evaluated attempts.
    assert (outcomes[-1] == "ok") == (DEFAULT_PASSWORD in evaluated)
    assert outcomes.count("locked") >= BURST - settings.AUTH_LOCKOUT_THRESHOLD
