"""Password reset and change services."""

from datetime import timedelta
from unittest import mock

import pytest

from appauth import services
from appauth.errors import InvalidLinkToken, InvalidPassword
from appauth.models import AuthToken
from appauth.tokens import password_reset_token_generator, uid_encode
from backend.errors import ValidationFailed
from tests.appauth.factories import CLIENT
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"


def test_password_change_requires_the_current_password():
    user = UserFactory()

    with pytest.raises(InvalidPassword):
        services.password_change(
            user=user, current_password="not it", new_password=STRONG, keep_token=None, client=CLIENT
        )
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_change_keeps_the_callers_token_and_revokes_the_others():
    user = UserFactory()
    mine, _ = services.token_create(user=user, client=CLIENT)
    services.token_create(user=user, client=CLIENT)
    services.token_create(user=user, client=CLIENT)

    services.password_change(
        user=user, current_password=DEFAULT_PASSWORD, new_password=STRONG, keep_token=mine, client=CLIENT
    )

    assert list(AuthToken.objects.filter(user=user)) == [mine]
    user.refresh_from_db()
    assert user.check_password(STRONG)


def test_password_change_runs_the_validators():
    user = UserFactory()

    with pytest.raises(ValidationFailed) as caught:
        services.password_change(
            user=user, current_password=DEFAULT_PASSWORD, new_password="short", keep_token=None, client=CLIENT
        )
    assert "new_password" in caught.value.details


def test_password_reset_revokes_every_token():
    user = UserFactory()
    services.token_create(user=user, client=CLIENT)
    services.token_create(user=user, client=CLIENT)

    services.password_reset_confirm(
        uidb64=uid_encode(user),
        token=password_reset_token_generator.make_token(user),
        new_password=STRONG,
        client=CLIENT,
    )

    assert not AuthToken.objects.filter(user=user).exists()


def test_reset_tokens_are_single_use_and_die_with_any_password_change():
    user = UserFactory()
    token = password_reset_token_generator.make_token(user)
    services.password_reset_confirm(uidb64=uid_encode(user), token=token, new_password=STRONG, client=CLIENT)

    with pytest.raises(InvalidLinkToken):
        services.password_reset_confirm(
            uidb64=uid_encode(user), token=token, new_password="another fine passphrase", client=CLIENT
        )

    user.refresh_from_db()
    pending = password_reset_token_generator.make_token(user)
    services.password_change(
        user=user, current_password=STRONG, new_password="yet another passphrase", keep_token=None, client=CLIENT
    )
    with pytest.raises(InvalidLinkToken):
        services.password_reset_confirm(
            uidb64=uid_encode(user), token=pending, new_password="another fine passphrase", client=CLIENT
        )


def test_reset_tokens_expire(settings):
    user = UserFactory()
    token = password_reset_token_generator.make_token(user)
    later = password_reset_token_generator._now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1)

    with mock.patch.object(password_reset_token_generator, "_now", return_value=later), pytest.raises(InvalidLinkToken):
        services.password_reset_confirm(uidb64=uid_encode(user), token=token, new_password=STRONG, client=CLIENT)


def test_a_reset_token_for_one_user_does_not_reset_another():
    alice, bob = UserFactory(), UserFactory()

    with pytest.raises(InvalidLinkToken):
        services.password_reset_confirm(
            uidb64=uid_encode(bob),
            token=password_reset_token_generator.make_token(alice),
            new_password=STRONG,
            client=CLIENT,
        )
    bob.refresh_from_db()
    assert bob.check_password(DEFAULT_PASSWORD)


def test_reset_confirm_runs_the_validators():
    user = UserFactory()

    with pytest.raises(ValidationFailed):
        services.password_reset_confirm(
            uidb64=uid_encode(user),
            token=password_reset_token_generator.make_token(user),
            new_password="password",
            client=CLIENT,
        )


def test_reset_proves_the_mailbox():
    user = UserFactory(email_verified=False)

    services.password_reset_confirm(
        uidb64=uid_encode(user),
        token=password_reset_token_generator.make_token(user),
        new_password=STRONG,
        client=CLIENT,
    )

    user.refresh_from_db()
    assert user.email_verified
