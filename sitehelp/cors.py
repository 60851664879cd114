"""CORS for the widget API: pages on HELP_WIDGET_ALLOWED_ORIGINS may call /api/v1/help/.

django-cors-headers asks `check_request_enabled` receivers whether a request may be answered
with CORS headers; this one says yes for the widget's paths and allowed origins only, so the
rest of the API keeps its own CORS_ALLOWED_ORIGINS.
"""

from __future__ import annotations

from typing import Any

from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest

API_PREFIX = "/api/v1/help/"


@receiver(check_request_enabled)
def widget_origin_allowed(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    if not request.path.startswith(API_PREFIX):
        return False
    origin = request.headers.get("Origin", "").rstrip("/")
    return bool(origin) and origin in {entry.rstrip("/") for entry in settings.HELP_WIDGET_ALLOWED_ORIGINS}
