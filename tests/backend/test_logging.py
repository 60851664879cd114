import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from backend.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter, redact, request_id_var

REPO = Path(__file__).resolve().parents[2]


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


def _run_debug_process(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "aiassistant.settings", "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_a_4xx_is_logged_once_with_debug_on():
    result = _run_debug_process(
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "Client().get('/nothing-here/', HTTP_HOST='localhost')\n",
        LOG_FORMAT="text",
    )

    lines = [line for line in result.stderr.splitlines() if "Not Found: /nothing-here/" in line]
    assert len(lines) == 1, result.stderr
    assert " WARNING [" in lines[0]  # the app's format, with the request id


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Forbidden: /prototype-preview/eyJ2IjoxfQ.Zx9:1t2u3v/", "eyJ2IjoxfQ.Zx9:1t2u3v"),
        ("GET https://b.s3/x.png?X-Amz-Credential=AKID%2F2026&X-Amz-Signature=0a1b2c3d", "0a1b2c3d"),
        ("GET https://b.s3/x.png?X-Amz-Security-Token=FwoGZXIvYXdz&X-Amz-Expires=900", "FwoGZXIvYXdz"),
        ("login ok for aia_" + "ab12" * 16, "ab12" * 16),
        ("open http://127.0.0.1:8000/verify-email?uid=MQ&token=cxyz-0123abcd", "cxyz-0123abcd"),
    ],
)
def test_bearer_secrets_in_urls_are_redacted(line, secret):
    assert secret not in redact(line)


def test_redaction_still_works_while_the_interpreter_shuts_down():
    result = _run_debug_process(
        "import logging, sys\n"
        "from backend.logging import redact\n"
        "class Late:\n"
        "    def __del__(self):\n"
        "        sys.stderr.write(redact('Authorization: Token aia_9f8e7d6c5b4a39281726') + '\\n')\n"
        "late = Late()\n"
    )

    assert "Authorization: [REDACTED] [REDACTED]" in result.stderr
    assert "Error" not in result.stderr
