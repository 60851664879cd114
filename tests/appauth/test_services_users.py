"""Registration, email verification and deletion services."""

from datetime import timedelta
from unittest import mock

import pytest

from appauth import services
from appauth.errors import InvalidLinkToken
from appauth.models import AppUser, AuthEvent
from appauth.tokens import email_verification_token_generator, password_reset_token_generator, uid_encode
from backend.errors import ValidationFailed
from tests.appauth.factories import CLIENT
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"


@pytest.mark.parametrize("variant", ["ADA@example.com", " ada@example.com ", "Ada@Example.Com"])
def test_email_case_and_whitespace_variants_cannot_create_a_second_account(variant):
    services.user_register(email="ada@example.com", password=STRONG, client=CLIENT)
    services.user_register(email=variant, password=STRONG, client=CLIENT)

    assert AppUser.objects.count() == 1
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.REGISTER_DUPLICATE).count() == 1


def test_register_hashes_the_password_for_an_existing_email_too():
    UserFactory(email="taken@example.com")

    with mock.patch("appauth.services.users.make_password") as make_password:
        services.user_register(email="taken@example.com", password=STRONG, client=CLIENT)

    make_password.assert_called_once_with(STRONG)


def test_a_concurrent_registration_of_the_same_email_is_a_duplicate_not_an_error():
    """The other request created the row between our check and our insert."""
    UserFactory(email="race@example.com")

    with mock.patch("appauth.services.users.selectors.user_get_by_email", side_effect=[None, AppUser.objects.get()]):
        services.user_register(email="race@example.com", password=STRONG, client=CLIENT)

    assert AppUser.objects.count() == 1
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.REGISTER_DUPLICATE).exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "too short"), ("password123", "too common"), ("1234567890123", "entirely numeric")],
)
def test_register_runs_the_password_validators(password, reason):
    with pytest.raises(ValidationFailed) as caught:
        services.user_register(email="new@example.com", password=password, client=CLIENT)

    assert reason in " ".join(caught.value.details["password"])
    assert not AppUser.objects.exists()


def test_register_refuses_a_password_similar_to_the_email():
    with pytest.raises(ValidationFailed):
        services.user_register(email="margaret.hamilton@example.com", password="margaret.hamilton", client=CLIENT)


def test_verify_email_marks_the_user_verified_once():
    user = UserFactory(email_verified=False)
    token = email_verification_token_generator.make_token(user)

    services.user_verify_email(uidb64=uid_encode(user), token=token, client=CLIENT)
    user.refresh_from_db()
    assert user.email_verified and user.email_verified_at

    with pytest.raises(InvalidLinkToken):  # reused
        services.user_verify_email(uidb64=uid_encode(user), token=token, client=CLIENT)


def test_verification_tokens_expire(settings):
    user = UserFactory(email_verified=False)
    token = email_verification_token_generator.make_token(user)
    later = email_verification_token_generator._now() + timedelta(seconds=settings.EMAIL_VERIFICATION_TIMEOUT + 1)

    with (
        mock.patch.object(email_verification_token_generator, "_now", return_value=later),
        pytest.raises(InvalidLinkToken),
    ):
        services.user_verify_email(uidb64=uid_encode(user), token=token, client=CLIENT)


def test_verification_tokens_outlive_the_short_password_reset_timeout(settings):
    user = UserFactory(email_verified=False)
    token = email_verification_token_generator.make_token(user)
    reset_token = password_reset_token_generator.make_token(user)
    later = email_verification_token_generator._now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)

    with (
        mock.patch.object(email_verification_token_generator, "_now", return_value=later),
        mock.patch.object(password_reset_token_generator, "_now", return_value=later),
    ):
        reset_token_still_valid = password_reset_token_generator.check_token(user, reset_token)
        services.user_verify_email(uidb64=uid_encode(user), token=token, client=CLIENT)

    user.refresh_from_db()
    assert not reset_token_still_valid  # a reset link of the same moment has expired by then
    assert user.email_verified and user.email_verified_at


def test_another_users_verification_token_is_refused():
    alice, bob = UserFactory(email_verified=False), UserFactory(email_verified=False)

    with pytest.raises(InvalidLinkToken):
        services.user_verify_email(
            uidb64=uid_encode(bob), token=email_verification_token_generator.make_token(alice), client=CLIENT
        )


def test_a_password_reset_token_is_not_a_verification_token():
    user = UserFactory(email_verified=False)

    with pytest.raises(InvalidLinkToken):
        services.user_verify_email(
            uidb64=uid_encode(user), token=password_reset_token_generator.make_token(user), client=CLIENT
        )


def test_account_deletion_keeps_the_audit_trail_with_the_account_id():
    user = UserFactory()
    user_id = user.pk

    services.user_delete(user=user, password=DEFAULT_PASSWORD, client=CLIENT)

    event = AuthEvent.objects.get(kind=AuthEvent.Kind.ACCOUNT_DELETED)
    assert event.user is None
    assert event.subject_id == user_id
    assert not AppUser.objects.filter(pk=user_id).exists()


def test_an_inactive_users_verification_link_is_refused():
    user = UserFactory(email_verified=False, is_active=False)

    with pytest.raises(InvalidLinkToken):
        services.user_verify_email(
            uidb64=uid_encode(user), token=email_verification_token_generator.make_token(user), client=CLIENT
        )
