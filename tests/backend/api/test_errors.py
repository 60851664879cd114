"""Every error, from DRF or from Django itself, reaches API clients in one shape."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.helpers import assert_error

pytestmark = [pytest.mark.urls("tests.backend.api.views_for_tests")]


def test_unknown_api_path_is_a_404_in_the_error_shape():
    response = Client().get("/api/v1/no-such-thing/")

    assert_error(response, 404, "not_found")


def test_validation_errors_name_each_field():
    response = APIClient().post("/api/v1/echo/", {"name": "x" * 50, "count": "many"}, format="json")

    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"name", "count"}


def test_malformed_json_is_a_400_not_a_500():
    response = APIClient().post("/api/v1/echo/", data=b'{"name": ', content_type="application/json")

    assert_error(response, 400, "malformed_request")


def test_wrong_method_is_a_405_in_the_error_shape():
    response = APIClient().get("/api/v1/echo/")

    assert_error(response, 405, "method_not_allowed")


def test_unsupported_media_type_is_a_415():
    response = APIClient().post("/api/v1/echo/", data=b"<x/>", content_type="application/xml")

    assert_error(response, 415, "unsupported_media_type")


def test_rate_limited_error_sets_retry_after():
    response = APIClient().get("/api/v1/limited/")

    error = assert_error(response, 429, "rate_limited")
    assert response["Retry-After"] == "7"
    assert error["details"]["retry_after"] == 7


@pytest.mark.parametrize("path", ["/api/v1/crash/", "/api/v1/crash-drf/"])
def test_unexpected_exception_is_a_500_in_the_error_shape_without_internals(path, caplog):
    client = Client(raise_request_exception=False)

    response = client.get(path)

    error = assert_error(response, 500, "internal_error")
    assert "bug" not in error["message"]
    assert "Internal Server Error" in caplog.text  # the bug is logged with its traceback


def test_bad_host_header_is_a_400_in_the_error_shape():
    response = Client().get("/api/v1/echo/", HTTP_HOST="evil.example")

    assert_error(response, 400, "malformed_request")


def test_oversize_body_is_a_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"name": "a", "count": 1, "padding": "x" * 5000})

    response = APIClient().post("/api/v1/echo/", data=body, content_type="application/json")

    assert_error(response, 413, "payload_too_large")


def test_non_api_paths_keep_django_html_error_pages():
    response = Client(raise_request_exception=False).get("/admin-like/crash/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_unauthenticated_request_gets_401_with_challenge():
    response = APIClient().get("/api/v1/models/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")
