"""Assertions shared by the whole suite."""

from __future__ import annotations

import json
from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """`response` is an error in the one error shape, `{"error": {"code", "message", "details"}}`,
    with this status and code; returns the inner `error` object for further checks.

    Works for Django/DRF test responses and httpx responses alike.
    """
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    return body["error"]
