"""One mail over real SMTP to an in-process aiosmtpd server."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from rest_framework.test import APIClient

from appauth.models import AppUser

pytestmark = pytest.mark.django_db


class Collector(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_registration_mail_goes_out_over_smtp(smtp_server, settings, run_on_commit):
    controller, handler = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    with run_on_commit():
        response = APIClient().post(
            "/api/v1/auth/register/",
            {"email": "smtp@example.com", "password": "a perfectly fine passphrase"},
            format="json",
        )

    assert response.status_code == 202
    [message] = handler.messages
    assert message["To"] == "smtp@example.com"
    assert message.is_multipart()
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    user = AppUser.objects.get(email="smtp@example.com")
    assert f"{settings.FRONTEND_URL}/verify-email?uid=" in parts["text/plain"]
    assert "<a href=" in parts["text/html"]
    assert str(user.pk) not in message["Subject"]


def test_an_unreachable_smtp_server_does_not_break_registration(settings, run_on_commit):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1  # nothing listens there
    settings.EMAIL_TIMEOUT = 2

    with run_on_commit():
        response = APIClient().post(
            "/api/v1/auth/register/",
            {"email": "nomail@example.com", "password": "a perfectly fine passphrase"},
            format="json",
        )

    assert response.status_code == 202
    assert AppUser.objects.filter(email="nomail@example.com").exists()
