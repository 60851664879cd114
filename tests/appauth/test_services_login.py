"""Login, lockout and token services."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from appauth import services
from appauth.errors import AccountLocked, InvalidCredentials
from appauth.models import AppUser, AuthEvent, AuthToken
from appauth.services.login import login_lockout
from appauth.tokens import password_reset_token_generator, uid_encode
from tests.appauth.factories import CLIENT
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"


def test_login_issues_a_new_token_each_time_and_records_the_ip():
    user = UserFactory()

    first = services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    second = services.user_login(email=user.email.upper(), password=DEFAULT_PASSWORD, client=CLIENT)

    assert first.token != second.token
    assert AuthToken.objects.filter(user=user).count() == 2
    user.refresh_from_db()
    assert user.last_login_ip == CLIENT.ip
    assert user.last_login is not None


def test_login_upgrades_an_old_password_hash_to_argon2(production_hashers, settings):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user = UserFactory()
    user.password = PBKDF2PasswordHasher().encode(DEFAULT_PASSWORD, "somesalt", iterations=1000)
    user.save()

    services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)

    user.refresh_from_db()
    assert user.password.startswith("argon2")


def test_login_runs_a_dummy_hash_for_unknown_emails():
    with mock.patch.object(AppUser, "set_password") as set_password, pytest.raises(InvalidCredentials):
        services.user_login(email="nobody@example.com", password="whatever", client=CLIENT)

    set_password.assert_called_once_with("whatever")


def test_inactive_users_get_the_generic_error():
    user = UserFactory(is_active=False)

    with pytest.raises(InvalidCredentials):
        services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    assert not AuthToken.objects.exists()


@pytest.fixture
def clock(rate_clock):
    return rate_clock


def _fail(email, times, client=CLIENT):
    errors = []
    for _ in range(times):
        with pytest.raises((InvalidCredentials, AccountLocked)) as caught:
            services.user_login(email=email, password="wrong password", client=client)
        errors.append(caught.value)
    return errors


def test_failures_from_many_ips_lock_the_account_and_the_lock_expires(settings, clock):
    user = UserFactory()
    for i in range(settings.AUTH_LOCKOUT_THRESHOLD - 1):
        _fail(user.email, 1, client=services.ClientInfo(ip=f"198.51.100.{i + 1}"))

    [locking] = _fail(user.email, 1, client=services.ClientInfo(ip="192.0.2.99"))
    assert isinstance(locking, AccountLocked)
    assert locking.retry_after == settings.AUTH_LOCKOUT_BASE_SECONDS
    # Even the right password is refused while locked.
    with pytest.raises(AccountLocked):
        services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    user.refresh_from_db()
    assert user.locked_until is not None
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOCKED_OUT, user=user).count() == 1

    clock[0] += settings.AUTH_LOCKOUT_BASE_SECONDS
    assert services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT).token
    user.refresh_from_db()
    assert user.locked_until is None


def test_repeated_lockouts_back_off(settings, clock):
    user = UserFactory()
    _fail(user.email, settings.AUTH_LOCKOUT_THRESHOLD)
    clock[0] += settings.AUTH_LOCKOUT_BASE_SECONDS

    *_, second_lock = _fail(user.email, settings.AUTH_LOCKOUT_THRESHOLD)

    assert second_lock.retry_after == 2 * settings.AUTH_LOCKOUT_BASE_SECONDS


def test_an_unknown_email_locks_exactly_like_a_real_one(settings, clock):
    real = UserFactory()

    real_errors = _fail(real.email, settings.AUTH_LOCKOUT_THRESHOLD + 1)
    ghost_errors = _fail("ghost@example.com", settings.AUTH_LOCKOUT_THRESHOLD + 1)

    def shape(errors):
        return [(type(e), e.code, e.status_code, e.message, e.details) for e in errors]

    assert shape(real_errors) == shape(ghost_errors)


def test_an_attackers_own_success_does_not_reset_a_victims_counter(settings, clock):
    victim, attacker = UserFactory(), UserFactory()
    _fail(victim.email, settings.AUTH_LOCKOUT_THRESHOLD - 1)

    services.user_login(email=attacker.email, password=DEFAULT_PASSWORD, client=CLIENT)

    [error] = _fail(victim.email, 1)
    assert isinstance(error, AccountLocked)


def test_a_success_clears_the_accounts_own_failures(settings, clock):
    user = UserFactory()
    _fail(user.email, settings.AUTH_LOCKOUT_THRESHOLD - 1)
    services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)

    errors = _fail(user.email, settings.AUTH_LOCKOUT_THRESHOLD - 1)

    assert all(isinstance(e, InvalidCredentials) for e in errors)


def test_a_locked_account_can_reset_its_password(settings, clock):
    user = UserFactory()
    _fail(user.email, settings.AUTH_LOCKOUT_THRESHOLD)

    services.password_reset_confirm(
        uidb64=uid_encode(user),
        token=password_reset_token_generator.make_token(user),
        new_password=STRONG,
        client=CLIENT,
    )

    assert login_lockout().remaining(user.email) == 0
    assert services.user_login(email=user.email, password=STRONG, client=CLIENT).token


def test_reset_requests_do_not_lock_the_account(settings):
    user = UserFactory()
    for _ in range(10):
        services.password_reset_request(email=user.email, client=CLIENT)

    assert services.user_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT).token


def test_token_limit_evicts_the_least_recently_used(settings):
    settings.AUTH_TOKEN_LIMIT_PER_USER = 3
    user = UserFactory()
    tokens = [services.token_create(user=user, client=CLIENT)[0] for _ in range(3)]
    AuthToken.objects.filter(pk=tokens[0].pk).update(last_used_at=timezone.now())  # the oldest is in use

    newest, _ = services.token_create(user=user, client=CLIENT)

    remaining = set(AuthToken.objects.filter(user=user).values_list("pk", flat=True))
    assert remaining == {tokens[0].pk, tokens[2].pk, newest.pk}


def test_token_create_purges_expired_tokens():
    user = UserFactory()
    stale, _ = services.token_create(user=user, client=CLIENT)
    AuthToken.objects.filter(pk=stale.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    services.token_create(user=user, client=CLIENT)

    assert not AuthToken.objects.filter(pk=stale.pk).exists()


def test_revoking_another_users_token_is_not_found():
    from backend.errors import NotFound

    alice, bob = UserFactory(), UserFactory()
    bobs, _ = services.token_create(user=bob, client=CLIENT)

    with pytest.raises(NotFound):
        services.token_revoke(user=alice, token_id=bobs.pk, client=CLIENT)
    assert AuthToken.objects.filter(pk=bobs.pk).exists()
