"""How the control loop waits: to an absolute deadline, or until something wakes it.

:class:`RealtimeSleeper` waits on the event loop's own timer (absolute deadlines
hold 50 Hz without drift, see NOTES). A staff command or a unit event calls
:meth:`~Sleeper.wake`, so the loop acts at once instead of at the next tick.
Tests and benchmarks use :class:`cryoctl.control.virtual_rig.VirtualSleeper`, whose
time moves only when the loop waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

__all__ = ["RealtimeSleeper", "Sleeper"]


class Sleeper(Protocol):
    async def sleep_until(self, deadline_s: float) -> None:
        """Return at ``deadline_s`` (the loop's clock) or as soon as :meth:`wake` is called."""
        ...

    def wake(self) -> None:
        """End the current wait now (or the next one at once, if none is running)."""
        ...


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class RealtimeSleeper:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._woken = False
        self._fut: asyncio.Future[None] | None = None

    async def sleep_until(self, deadline_s: float) -> None:
        if self._woken:
            self._woken = False
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._fut = fut
        handle = loop.call_later(max(0.0, deadline_s - self._clock()), _resolve, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._fut = None
            self._woken = False

    def wake(self) -> None:
        self._woken = True
        if self._fut is not None:
            _resolve(self._fut)
