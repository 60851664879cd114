import json
import logging

import pytest
from django.test import Client

from backend.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter, redact, request_id_var


def test_every_response_carries_a_request_id():
    response = Client().get("/healthz")

    assert len(response["X-Request-ID"]) == 32


def test_a_well_formed_incoming_request_id_is_kept():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="edge-proxy-1234abcd")

    assert response["X-Request-ID"] == "edge-proxy-1234abcd"


def test_a_malformed_incoming_request_id_is_replaced():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_log_lines_inside_a_request_carry_its_request_id(caplog):
    caplog.handler.addFilter(RequestIdFilter())

    response = Client().get("/api/v1/does-not-exist/", HTTP_X_REQUEST_ID="trace-abcdef123")

    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(r.request_id == "trace-abcdef123" for r in records)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Token aia_9f8e7d6c5b4a39281726", "aia_9f8e7d6c5b4a39281726"),
        ("calling with Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGciOiJSUzI1NiJ9.payload.sig"),
        ('{"email": "a@b.c", "password": "hunter2-very-secret"}', "hunter2-very-secret"),
        ("reset password=correct-horse&next=/", "correct-horse"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
    ],
)
def test_secrets_are_redacted(line, secret):
    cleaned = redact(line)

    assert secret not in cleaned
    assert "REDACTED" in cleaned


def test_json_formatter_writes_one_redacted_object_per_line():
    token = request_id_var.set("req-1234567890")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "login with %s", ("password=abc123",), None)
        record.user_email = "someone@example.com"
        RequestIdFilter().filter(record)
        RedactSecretsFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)

    payload = json.loads(line)
    assert payload["request_id"] == "req-1234567890"
    assert payload["level"] == "INFO"
    assert "abc123" not in line
    assert payload["user_email"] == "someone@example.com"
