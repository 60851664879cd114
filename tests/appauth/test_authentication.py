"""Token authentication costs one lookup, whatever the number of the user's tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from appauth.models import AuthToken
from appauth.services.audit import ClientInfo
from appauth.services.tokens import token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="tests")


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.mark.parametrize("other_tokens", [0, 8])
def test_authenticating_does_not_read_the_users_other_tokens(other_tokens, django_assert_num_queries, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # the database path (tests/appauth/test_token_cache.py: the cached one)
    user = UserFactory()
    for _ in range(other_tokens):
        token_create(user=user, client=CLIENT)
    _, token = token_create(user=user, client=CLIENT)
    client = _client(token)
    client.get("/api/v1/auth/profile/")  # the first use writes last_used_at

    with django_assert_num_queries(1):  # the token with its user; the profile is read from it
        assert client.get("/api/v1/auth/profile/").status_code == 200


def test_an_expired_token_is_refused_and_deleted():
    user = UserFactory()
    instance, token = token_create(user=user, client=CLIENT)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    response = _client(token).get("/api/v1/auth/profile/")

    assert response.status_code == 401
    assert not AuthToken.objects.filter(pk=instance.pk).exists()
