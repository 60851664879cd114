"""Client IP under the trusted-proxy rule: a spoofed X-Forwarded-For never wins."""

import pytest
from django.test import RequestFactory

from backend.net import client_ip, user_agent


def _request(remote: str = "198.51.100.1", forwarded: str | None = None, **extra: str):
    meta = {"REMOTE_ADDR": remote, **extra}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(_request(forwarded="1.2.3.4")) == "198.51.100.1"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        # The client prepends a fake entry; the proxy appends the real one.
        (1, "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        (2, "1.2.3.4, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "198.51.100.1"),  # fewer entries than proxies: not trusted
        (1, "not-an-ip", "198.51.100.1"),
        (1, "", "198.51.100.1"),
        (1, " 2001:DB8::1 ", "2001:db8::1"),
    ],
)
def test_trusted_proxies_take_the_nth_entry_from_the_right(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip(_request(forwarded=forwarded)) == expected


def test_a_missing_or_garbage_remote_addr_gives_a_placeholder(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(_request(remote="garbage")) == "0.0.0.0"


def test_user_agent_is_truncated():
    assert user_agent(_request(HTTP_USER_AGENT="x" * 1000)) == "x" * 512
