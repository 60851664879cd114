"""The user model and its manager, and the audit model."""

import pytest
from django.contrib.auth import get_user_model

from appauth import services
from appauth.models import AppUser, AuthEvent
from tests.appauth.factories import CLIENT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a perfectly fine passphrase"


def test_create_user_normalises_the_email_and_generates_a_username():
    user = AppUser.objects.create_user("  Mixed.Case@Example.COM ", STRONG)

    assert user.email == "mixed.case@example.com"
    assert user.username.startswith("user_")
    assert user.check_password(STRONG)
    assert not user.email_verified


def test_create_user_without_password_has_an_unusable_one():
    assert not AppUser.objects.create_user("nopass@example.com").has_usable_password()


def test_create_superuser_sets_flags_and_verifies():
    admin = get_user_model().objects.create_superuser("root@example.com", STRONG)

    assert admin.is_staff and admin.is_superuser and admin.email_verified


def test_create_superuser_refuses_non_staff():
    with pytest.raises(ValueError, match="superuser"):
        AppUser.objects.create_superuser("root@example.com", STRONG, is_staff=False)


def test_usernames_are_unique():
    names = {AppUser.objects.create_user(f"u{i}@example.com").username for i in range(5)}

    assert len(names) == 5


def test_the_database_refuses_case_variants_even_past_the_service():
    from django.db import IntegrityError

    UserFactory(email="dup@example.com")
    with pytest.raises(IntegrityError):
        AppUser.objects.bulk_create([AppUser(email="DUP@example.com", username="other")])


def test_auth_events_are_append_only():
    event = services.auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, email="x@example.com", client=CLIENT)
    event.email = "changed@example.com"

    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
