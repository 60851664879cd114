"""Hostile input ends in a 4xx in the error shape, never a 500: nesting, forged cursors, OPTIONS, outages."""

from __future__ import annotations

import base64
from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from backend.api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from backend.api.views import server_error
from tests.helpers import assert_error
from tests.prototypes.factories import VariantFactory, VersionFactory

pytestmark = pytest.mark.django_db


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.fixture
def client(user):
    api_client = APIClient()
    api_client.force_authenticate(user)
    return api_client


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
@pytest.mark.parametrize("path", ["/api/v1/auth/login/", "/api/v1/auth/register/", "/api/v1/auth/password/reset/"])
def test_deeply_nested_json_is_a_400_on_unauthenticated_endpoints(path, depth):
    response = APIClient().post(path, data=nested(depth), content_type="application/json")

    assert_error(response, 400, "malformed_request")


def test_deeply_nested_json_is_a_400_on_authenticated_endpoints(client):
    body = b'{"name": ' + nested(50_000) + b"}"

    response = client.post("/api/v1/chat/projects/", data=body, content_type="application/json")

    assert_error(response, 400, "malformed_request")


def test_nesting_within_the_limit_is_parsed():
    assert not json_depth_exceeds({"a": [{"b": [1, 2]}]}, 4)
    assert json_depth_exceeds({"a": [{"b": [1, 2]}]}, 3)


@pytest.mark.parametrize(
    "position",
    ["abc", "1e999", "\x00", "2024-13-45", "12:00"],
)
def test_a_forged_cursor_is_a_404_not_a_500(client, position):
    # The versions list is keyed on an integer (version_number), the chat list on a timestamp.
    user = client.handler._force_user
    variant = VariantFactory(prototype__project__user=user)
    VersionFactory(variant=variant, version_number=1)
    cursor = base64.b64encode(f"o=0&r=0&p={position}".encode()).decode()

    for path in (f"/api/v1/prototypes/variants/{variant.id}/versions/", "/api/v1/chat/chats/"):
        response = client.get(path, {"cursor": cursor})
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize("cursor", ["o=1", "\u00e9\u00e9", base64.b64encode(b"o=-1&p=x").decode()])
def test_a_malformed_cursor_is_a_404(client, cursor):
    response = client.get("/api/v1/chat/chats/", {"cursor": cursor})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y", base64.b64encode(b"o=0&p=" + b"9" * 400).decode()])
def test_a_cursor_that_decodes_to_nothing_usable_is_never_a_500(client, cursor):
    response = client.get("/api/v1/prototypes/versions/", {"cursor": cursor})

    assert response.status_code < 500, response.content


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/prototypes/projects/",
        "/api/v1/prototypes/versions/00000000-0000-0000-0000-000000000000/",
        "/api/v1/chat/chats/",
        "/api/v1/auth/profile/",
        "/api/v1/auth/login/",
    ],
)
def test_options_describes_the_route_without_a_500(client, path):
    response = client.options(path)

    assert response.status_code == 200, response.content
    assert "application/json" in response.json()["parses"]


def test_a_database_outage_is_a_503_in_the_error_shape(client):
    outage = OperationalError("server closed")
    with (
        mock.patch("chat.apis.chats.selectors.chat_list", side_effect=outage),  # the serializer path
        mock.patch("chat.apis.chats.pages.chat_list_rows", side_effect=outage),  # the database-rendered page
    ):
        response = client.get("/api/v1/chat/chats/")

    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"]


def test_a_database_outage_outside_drf_is_a_503_too(rf):
    # Django calls the 500 handler inside its `except` block: the exception is the current one.
    request = rf.get("/api/v1/anything/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = server_error(request)

    assert_error(response, 503, "service_unavailable")
    assert server_error(request).status_code == 500  # outside the except block: a bug is still a 500


@pytest.mark.parametrize("path", ["/api/v1/chat/messages/", "/api/v1/prototypes/generate/"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200_000])
def test_deeply_nested_json_is_a_400_on_streaming_endpoints(client, path, depth):
    body = b'{"content": "hi", "prompt": "x", "extra": ' + nested(depth) + b"}"

    response = client.post(path, data=body, content_type="application/json")

    assert_error(response, 400, "malformed_request")
