"""Deciding tool calls over the API: a call id that cannot be waiting is a 404 in the error shape."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import assert_error


@pytest.mark.parametrize("call_id", ["tool%20use", "x" * 129, "%C3%A9t%C3%A9"])
@pytest.mark.parametrize("decision", ["confirm", "reject"])
def test_a_call_id_no_provider_writes_is_not_pending(client, call_id, decision):
    response = client.post(f"/api/v1/chat/messages/{uuid.uuid4()}/tool-calls/{call_id}/{decision}/")

    assert_error(response, 404, "tool_call_not_pending")
