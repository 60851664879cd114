"""The JSON control API under ``/_emulator/`` (tests and scripted demos).

* ``GET  /_emulator/health``   -> 200 ``{"status": "ok"}``
* ``POST /_emulator/rules``    -> 201 ``{"id": ...}`` (rule grammar: ``state.parse_rule``)
* ``POST /_emulator/throttle`` ``{"model", "seconds"}`` -> 200: the models whose
  id contains ``model`` answer ThrottlingException for ``seconds``
* ``GET  /_emulator/requests`` -> 200 ``{"requests": [...]}``, oldest first
* ``POST /_emulator/reset``    -> 200: rules, throttles, requests and cache cleared

Invalid input is answered 400 ``{"message": ...}``; an unknown route 404.
"""

from __future__ import annotations

import json
from typing import Any

from backend.llm.emulator.errors import ApiError, validation_error
from backend.llm.emulator.state import EmulatorState

PREFIX = "/_emulator/"


def handle_control(state: EmulatorState, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """Route one control request; returns (status, JSON body)."""
    route = (method, path.removeprefix(PREFIX).rstrip("/"))
    try:
        if route == ("GET", "health"):
            return 200, {"status": "ok"}
        if route == ("GET", "requests"):
            return 200, {"requests": state.requests()}
        if route == ("POST", "reset"):
            state.reset()
            return 200, {}
        if route == ("POST", "rules"):
            return 201, {"id": state.add_rule(_json(body))}
        if route == ("POST", "throttle"):
            model, seconds = _throttle_args(_json(body))
            state.throttle(model, seconds)
            return 200, {"model": model, "seconds": seconds}
    except ApiError as error:
        return error.status, error.body()
    return 404, {"message": f"No control route {method} {path}."}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error("The control request body is not valid JSON.") from None


def _throttle_args(spec: Any) -> tuple[str, float]:
    if not isinstance(spec, dict):
        raise validation_error("Expected {'model': str, 'seconds': number}.")
    model, seconds = spec.get("model"), spec.get("seconds")
    if not isinstance(model, str) or not model:
        raise validation_error("model must be a non-empty model id (or id substring).")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise validation_error("seconds must be a non-negative number.")
    return model, float(seconds)
