"""The email adapter: every outgoing mail goes through `send_email` (Django's configured backend).

SMTP in production (`EMAIL_URL`), console in the embedded default, locmem in tests.
Raises what the backend raises (`smtplib.SMTPException`, `OSError`) so that the Celery
task calling it can retry; callers in request paths never call this directly.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives


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
