"""Per-client-IP throttles for the account endpoints (429 + Retry-After).

The view names its scope in `throttle_scope`; the rate is `settings.AUTH_RATE_LIMITS[scope]`.
The IP comes from `backend.net.client_ip` (trusted-proxy rule), so a spoofed
`X-Forwarded-For` does not give a fresh budget. Counters live in the cache (Redis).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from backend import ratelimit
from backend.net import client_ip


class ClientIPThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: int = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        decision = ratelimit.hit(scope, client_ip(request._request), settings.AUTH_RATE_LIMITS[scope])
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return float(self._wait) if self._wait else None
