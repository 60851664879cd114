"""Per-account upload throttle: `UPLOAD_RATE_USER` file uploads per user (429 + Retry-After).

Decoding and storing files is the most expensive thing a request can ask for, so every view
that takes one (attachments, the file check, the avatar) counts multipart requests against
one per-account budget in the shared cache. Requests without a file body are not counted.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from backend import ratelimit


class UploadThrottle(BaseThrottle):
    scope = "upload_user"

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.content_type.startswith("multipart/form-data") or not request.user.is_authenticated:
            return True
        decision = ratelimit.hit(self.scope, str(request.user.pk), settings.UPLOAD_RATE_USER)
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return float(self._wait) if self._wait else None
