"""The email adapter: every outgoing mail goes through `send_email` (Django's configured backend).

SMTP in production (`EMAIL_URL`), console in the embedded default (DEBUG only), locmem in tests.
Raises what the backend raises (`smtplib.SMTPException`, `OSError`) so that the Celery
task calling it can retry; callers in request paths never call this directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

CONSOLE_REFUSED = (
    "EMAIL_URL is unset or consolemail:// while DEBUG is off: e-mail (with its reset links) would be "
    "printed to the log. Set EMAIL_URL to a real transport, e.g. smtp+tls://user:pass@host:587."
)


def send_email(*, to: list[str], subject: str, text_body: str, html_body: str | None = None) -> None:
    """Send one multipart (text + optional HTML) message."""
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # no header injection through newlines
        body=text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send(fail_silently=False)


class ConsoleRefusedBackend(BaseEmailBackend):
    """What the console transport becomes when DEBUG is off: it refuses to send.

    The console backend prints whole messages, password-reset and sign-in links included, to
    the log. In production that hands account takeover links to whoever reads the logs, so
    with DEBUG off an unset (or `consolemail://`) `EMAIL_URL` sends nothing and raises instead;
    the `backend.core` system check also stops `manage.py migrate` (and so the stack) from
    starting that way.
    """

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise ImproperlyConfigured(CONSOLE_REFUSED)
