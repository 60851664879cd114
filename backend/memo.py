"""A process-local LRU bounded by the size of what it holds, for entries that never go stale.

Used in front of the shared cache where a key names an immutable value (a chat's history page or
its model-context history, keyed by the chat's version): a repeated read in the same process then
spares the cache's round trip and the unpickling. Thread-safe (the database threads share it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLRU(Generic[K, V]):
    """The most recently used values up to `max_size` in all, each measured by `size(value)`.

    A value larger than an eighth of the bound is not kept: it would push out many others.
    """

    def __init__(self, max_size: int, size: Callable[[V], int]) -> None:
        self.max_size = max_size
        self._size = size
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        size = self._size(value)
        if size > self.max_size // 8:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._total += size - (old[1] if old is not None else 0)
            self._entries[key] = (value, size)
            while self._total > self.max_size:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._total -= evicted

    @property
    def total(self) -> int:
        """The size of what is held now."""
        return self._total

    def __len__(self) -> int:
        return len(self._entries)
