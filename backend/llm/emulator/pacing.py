"""Timer-coalescing writer: one timer callback paces the frames of every stream.

A streaming response hands its schedule, ``(due loop time, bytes)`` pairs in
order, to ``Pacer.write``; the pacer writes each item to the transport when
it is due, from a single timer shared by all streams, and resolves a future
when the schedule is exhausted.  A coroutine sleeping once per token would
cost a timer handle, a future and a task wake-up per frame; with a thousand
streams at 20 ms per token that overhead alone saturates the event loop.

Back-pressure: when the transport's write buffer exceeds ``high_water`` the
future resolves with ``BACKPRESSURE``; the caller awaits ``drain()`` and
calls ``write`` again with the same (partly consumed) iterator.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
from collections.abc import Iterator

# Items due within this many seconds are written in the same timer run.
_SLACK_SECONDS = 0.001
_HIGH_WATER_BYTES = 64 * 1024


class Paced(enum.Enum):
    DONE = "done"  # every item was written
    CLOSED = "closed"  # the transport closed (client went away)
    BACKPRESSURE = "backpressure"  # drain, then call write() again


class _Job:
    __slots__ = ("future", "items", "pending", "transport")

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        items: Iterator[tuple[float, bytes]],
        future: asyncio.Future[Paced],
    ) -> None:
        self.transport = transport
        self.items = items
        self.future = future
        self.pending: tuple[float, bytes] | None = None

    def finish(self, result: Paced) -> None:
        if not self.future.done():
            self.future.set_result(result)


class Pacer:
    """Writes scheduled chunks for many transports; bound to one event loop."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()  # tie-breaker: jobs are not comparable
        self._timer: asyncio.TimerHandle | None = None

    def write(self, transport: asyncio.WriteTransport, items: Iterator[tuple[float, bytes]]) -> asyncio.Future[Paced]:
        """Write ``items`` to ``transport`` as they fall due; the future tells how it ended."""
        loop = asyncio.get_running_loop()
        job = _Job(transport, items, loop.create_future())
        self._advance(job, loop.time())
        self._arm(loop)
        return job.future

    def _advance(self, job: _Job, now: float) -> None:
        """Write the job's items that are due, then queue it or resolve its future."""
        if job.future.done():  # cancelled: the stream's task went away
            return
        transport = job.transport
        while True:
            if job.pending is None:
                job.pending = next(job.items, None)
                if job.pending is None:
                    job.finish(Paced.DONE)
                    return
            due, data = job.pending
            if due > now + _SLACK_SECONDS:
                heapq.heappush(self._heap, (due, next(self._order), job))
                return
            if transport.is_closing():
                job.finish(Paced.CLOSED)
                return
            transport.write(data)
            job.pending = None
            if transport.get_write_buffer_size() > _HIGH_WATER_BYTES:
                job.finish(Paced.BACKPRESSURE)
                return

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now + _SLACK_SECONDS:
            self._advance(heapq.heappop(heap)[2], now)
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure the timer fires for the earliest queued item."""
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = loop.call_at(due, self._on_timer, loop)
