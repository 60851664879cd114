"""The fuzz run's own checks can fail: they are exercised here on hand-made responses (no server)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.fuzz import hooks


def response(status: int, body: bytes, content_type: str = "application/json") -> SimpleNamespace:
    return SimpleNamespace(status_code=status, content=body, headers={"content-type": [content_type]})


def case(operation_id: str, responses: dict | None = None) -> SimpleNamespace:
    raw = {"operationId": operation_id, "responses": responses or {}}
    return SimpleNamespace(operation=SimpleNamespace(definition=SimpleNamespace(raw=raw)), headers={})


ERROR = json.dumps({"error": {"code": "invalid", "message": "No.", "details": {}}}).encode()


@pytest.mark.parametrize(
    "body",
    [b'{"detail": "Not found."}', b"<h1>Server Error</h1>", b'{"error": {"code": "x", "message": "y"}}', b""],
)
def test_error_shape_fails_on_any_other_error_body(body):
    with pytest.raises(AssertionError):
        hooks.error_shape(None, response(400, body), case("x"))


def test_error_shape_accepts_the_error_shape_and_ignores_successes():
    assert hooks.error_shape(None, response(404, ERROR), case("x")) is True
    assert hooks.error_shape(None, response(200, b"not json"), case("x")) is None


def test_event_stream_needs_the_documented_media_type():
    sse = response(200, b"event: ping\n\n", "text/event-stream")
    documented = {"200": {"content": {"text/event-stream": {}}}}

    assert hooks.event_stream(None, sse, case("some_stream", documented)) is True
    with pytest.raises(AssertionError):
        hooks.event_stream(None, sse, case("some_stream", {"200": {"content": {"application/json": {}}}}))
    assert hooks.event_stream(None, response(200, b"{}"), case("some_stream")) is None


def test_body_checks_are_dropped_for_sse_answers_only():
    failure = SimpleNamespace(code="ST110")  # content deserialisation error

    assert hooks.filter_failure(None, failure, case("x"), response(200, b"event: x\n\n", "text/event-stream")) is False
    assert hooks.filter_failure(None, failure, case("x"), response(200, b"{")) is True
    assert hooks.filter_failure(None, SimpleNamespace(code="ST101"), case("x"), response(500, b"", "text/event-stream"))


def test_token_revoking_operations_get_disposable_tokens(tmp_path, monkeypatch):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"main": "aia_main", "disposable": ["aia_one", "aia_two"]}))
    monkeypatch.setenv("FUZZ_TOKENS_FILE", str(tokens))
    hooks._tokens.cache_clear()
    monkeypatch.setattr(hooks, "_spent", set())

    issued = [
        hooks._token_for(operation) for operation in ("chat_chats_list", "auth_logout_create", "auth_logout_all_create")
    ]

    assert issued == ["aia_main", "aia_one", "aia_two"]
    assert hooks._token_for("auth_tokens_destroy") == "aia_spent"
    hooks._tokens.cache_clear()
