"""A lock that hands the bus to the most urgent waiter first.

One request is in flight per bus; when it ends, a waiting close or e-stop write
goes before any waiting poll. Among equals, first come first served.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools

__all__ = ["Priority", "PriorityLock"]


class Priority(enum.IntEnum):
    URGENT = 0  # close and e-stop writes
    NORMAL = 1  # everything else


class PriorityLock:
    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    async def acquire(self, priority: Priority) -> None:
        if not self._held and not self.waiting:
            self._held = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Handed the lock just as we were cancelled: pass it on.
                self.release()
            raise

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("release of an unheld PriorityLock")
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # ownership passes on; the lock stays held
                return
        self._held = False
