"""The process-local LRU bounded by size (`backend.memo.SizedLRU`)."""

from __future__ import annotations

from backend.memo import SizedLRU


def test_the_lru_is_bounded_by_size_and_keeps_what_was_read_last():
    memo: SizedLRU[str, str] = SizedLRU(800, len)

    for index in range(10):
        memo.put(f"k{index}", "x" * 100)
    assert memo.get("k0") is None and memo.get("k9") is not None
    assert memo.total == 800 and len(memo) == 8
    memo.put("big", "x" * 101)  # over an eighth of the bound: never kept
    assert memo.get("big") is None
    memo.get("k2")  # read last, so it outlives the ones after it
    memo.put("k10", "x" * 100)
    assert memo.get("k2") is not None and memo.get("k3") is None
    memo.put("k10", "x" * 50)  # replaced: its old size no longer counts
    assert memo.total == 750
