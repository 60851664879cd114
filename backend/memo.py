"""A process-local copy of immutable cache entries, in front of the shared cache.

Entries whose key names a version (a chat's history version, say) never change while the key
lives, so a copy in this process is exact: it spares the shared cache's round trip and the
unpickling on a repeated read. Bounded in bytes (least recently used out first); an entry over
an eighth of the bound is never kept, as it would push out many others.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LocalMemo(Generic[T]):
    """An LRU of immutable values bounded by `size(value)` in total (thread-safe)."""

    def __init__(self, max_bytes: int, size: Callable[[T], int]) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[str, tuple[T, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: T) -> None:
        size = self._size(value)
        if size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes += size - (old[1] if old is not None else 0)
            self._entries[key] = (value, size)
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def discard(self, key: str) -> None:
        """Forget `key`'s entry, if held."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes held (as `size` counts them)."""
        return self._bytes
