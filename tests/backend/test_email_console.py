"""With DEBUG off the console e-mail transport refuses: reset links never land in the log."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection

from backend.email import send_email
from tests.aiassistant.test_settings import run_with_env, settings_json


def test_production_without_email_url_gets_the_refusing_backend():
    values = settings_json("print(json.dumps({'backend': settings.EMAIL_BACKEND}))", DEBUG="0", SECRET_KEY="x" * 50)
    explicit = settings_json(
        "print(json.dumps({'backend': settings.EMAIL_BACKEND}))",
        DEBUG="0",
        SECRET_KEY="x" * 50,
        EMAIL_URL="consolemail://",
    )

    assert values == explicit == {"backend": "backend.email.ConsoleRefusedBackend"}


def test_development_keeps_the_console():
    values = settings_json("print(json.dumps({'backend': settings.EMAIL_BACKEND}))", DEBUG="1")

    assert values == {"backend": "django.core.mail.backends.console.EmailBackend"}


def test_the_refusing_backend_sends_nothing(settings, capsys):
    settings.EMAIL_BACKEND = "backend.email.ConsoleRefusedBackend"

    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        send_email(to=["a@example.com"], subject="Reset", text_body="https://app.example/reset?token=secret")

    assert "secret" not in capsys.readouterr().out
    assert get_connection().__class__.__name__ == "ConsoleRefusedBackend"


def test_the_system_check_stops_migrate(settings):
    settings.EMAIL_BACKEND = "backend.email.ConsoleRefusedBackend"

    assert [message.id for message in run_checks()] == ["core.E001"]


def test_manage_py_check_fails_in_production_without_email_url():
    result = run_with_env(
        "from django.core.management import call_command\ncall_command('check')", DEBUG="0", SECRET_KEY="x" * 50
    )

    assert result.returncode != 0
    assert "core.E001" in result.stderr
