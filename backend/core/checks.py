"""System checks that stop an unsafe production configuration from starting (`manage.py migrate`, `check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from backend.email import CONSOLE_REFUSED


@register()
def email_transport_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.EMAIL_BACKEND == "backend.email.ConsoleRefusedBackend":
        return [Error(CONSOLE_REFUSED, id="core.E001")]
    return []
