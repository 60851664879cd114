"""Connected sign-in providers: list and unlink, never the last way to sign in."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from appauth.models import AuthEvent, SocialIdentity
from tests.appauth.factories import SocialIdentityFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/auth/identities/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_user_lists_only_their_identities(user):
    SocialIdentityFactory(user=user, provider="google", subject="g-1")
    SocialIdentityFactory(user=user, provider="github", subject="42")
    SocialIdentityFactory(provider="google", subject="someone-else")

    listed = client_for(user).get(API).json()

    assert [(i["provider"], i["email"]) for i in listed] == [("github", user.email), ("google", user.email)]
    assert "subject" not in listed[0]


def test_unlinking_one_of_two_identities(user):
    user.set_unusable_password()
    user.save()
    google = SocialIdentityFactory(user=user, provider="google")
    SocialIdentityFactory(user=user, provider="github", subject="7")

    response = client_for(user).delete(f"{API}{google.pk}/")

    assert response.status_code == 204
    assert list(SocialIdentity.objects.filter(user=user).values_list("provider", flat=True)) == ["github"]
    assert AuthEvent.objects.filter(user=user, kind=AuthEvent.Kind.SOCIAL_UNLINKED).exists()


def test_the_last_way_to_sign_in_cannot_be_unlinked(user):
    user.set_unusable_password()
    user.save()
    only = SocialIdentityFactory(user=user)

    response = client_for(user).delete(f"{API}{only.pk}/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "last_sign_in_method"
    assert SocialIdentity.objects.filter(pk=only.pk).exists()


def test_with_a_password_the_only_identity_can_go(user):
    only = SocialIdentityFactory(user=user)

    assert client_for(user).delete(f"{API}{only.pk}/").status_code == 204


def test_another_users_identity_is_not_found(user):
    foreign = SocialIdentityFactory(user=UserFactory())

    response = client_for(user).delete(f"{API}{foreign.pk}/")

    assert response.status_code == 404
    assert SocialIdentity.objects.filter(pk=foreign.pk).exists()


def test_identities_need_authentication():
    assert APIClient().get(API).status_code == 401


def test_an_id_beyond_the_database_range_is_not_found(user):
    response = client_for(user).delete(f"{API}99999999999999999999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
