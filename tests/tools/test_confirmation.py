"""Deciding a tool call that cannot be waiting: a 404 without touching the cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from backend import errors
from tools.services.confirmation import confirmation_decide, confirmation_open


@pytest.mark.parametrize("call_id", ["x" * 129, "tool use", "Fw\x97\x15\x17NôP", "../x", ""])
def test_a_call_id_no_provider_writes_is_not_pending_and_reads_nothing(call_id, monkeypatch):
    reads = []
    monkeypatch.setattr(cache, "get", lambda key, *a, **k: reads.append(key))

    with pytest.raises(errors.NotFound):
        confirmation_decide(reference="chat.message:1", call_id=call_id, user_id=1, decision="confirmed")

    assert reads == []


def test_a_pending_call_with_a_provider_id_is_decided_once():
    confirmation_open(reference="chat.message:2", call_id="tooluse_Ab-9_z", user_id=7, tool="t", summary="s")

    assert confirmation_decide(reference="chat.message:2", call_id="tooluse_Ab-9_z", user_id=7, decision="rejected")
    with pytest.raises(errors.Conflict):
        confirmation_decide(reference="chat.message:2", call_id="tooluse_Ab-9_z", user_id=7, decision="confirmed")
