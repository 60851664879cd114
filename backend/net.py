"""The client's IP address, honouring a fixed number of trusted reverse proxies.

`settings.TRUSTED_PROXY_COUNT` says how many proxies in front of the app append to
`X-Forwarded-For`:

- 0 (default): the header is ignored entirely and `REMOTE_ADDR` is the client. A client
  cannot spoof its address by sending the header.
- N > 0: the N-th entry from the right is the client (each trusted proxy appends the
  address it received the connection from, so entries further left are client-supplied
  and untrusted). If the header has fewer than N entries, or that entry is not an IP
  address, `REMOTE_ADDR` is used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN_IP = "0.0.0.0"  # noqa: S104 - a placeholder value, never bound


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address as a normalised string (never empty; `0.0.0.0` if unknown)."""
    remote = _valid_ip(str(request.META.get("REMOTE_ADDR", ""))) or UNKNOWN_IP
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if len(entries) < proxies:
        return remote
    return _valid_ip(entries[-proxies]) or remote


def user_agent(request: HttpRequest, *, max_length: int = 512) -> str:
    """The User-Agent header, truncated to what the database stores."""
    return str(request.META.get("HTTP_USER_AGENT", ""))[:max_length]
