"""Every API response (tokens, profiles, chats) carries Cache-Control: no-store."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_the_login_answer_with_its_token_is_not_stored():
    user = UserFactory()

    response = APIClient().post(
        "/api/v1/auth/login/", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/profile/", "/api/v1/auth/tokens/", "/api/v1/chat/chats/", "/api/v1/nope/"]
)
def test_personal_data_and_errors_are_not_stored(path):
    client = APIClient()
    client.force_authenticate(UserFactory())

    response = client.get(path)

    assert "no-store" in response["Cache-Control"]


def test_an_existing_policy_is_kept_and_completed(rf):
    from django.http import HttpResponse

    from backend.middleware import NoStoreMiddleware

    def view(request):
        response = HttpResponse()
        response["Cache-Control"] = "no-cache"
        return response

    middleware = NoStoreMiddleware(view)

    assert middleware(rf.get("/api/v1/chat/messages/x/stream/"))["Cache-Control"] == "no-cache, no-store"
    assert middleware(rf.get("/admin/"))["Cache-Control"] == "no-cache"
