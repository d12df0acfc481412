"""Turns on one bus: one command in flight, urgent commands (CLOSE) ahead of the queue."""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Turns"]


class Turns:
    """An asyncio lock whose waiters are served urgent-first, then in arrival order.

    The command in flight is never interrupted; an urgent waiter only overtakes
    those still waiting.
    """

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def waiting(self) -> int:
        return sum(1 for f in (*self._urgent, *self._normal) if not f.done())

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._busy and not self.waiting:
            self._busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # the turn was handed over just as the waiter gave up: pass it on
                self.release()
            else:
                queue.remove(future)
            raise

    def release(self) -> None:
        """End the current turn and hand the bus to the next waiter, urgent first."""
        for queue in (self._urgent, self._normal):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self._busy = False
