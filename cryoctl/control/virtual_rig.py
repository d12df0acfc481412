"""The real controller loop on the fake unit in virtual time (tests and benchmarks).

:class:`VirtualSleeper` moves the virtual clock to each deadline the loop sleeps
to, after letting every ready task run, so a 15-minute session takes
milliseconds. ``limit_s`` bounds how far it may move time on its own: a test
that drives the loop step by step raises the limit (:meth:`VirtualSleeper.allow`)
and waits until the loop parks beyond it (:meth:`VirtualSleeper.parked`).
"""

from __future__ import annotations

import asyncio
import math

from cryoctl.control.controller import Controller, Observer
from cryoctl.core.alarms import AlarmManager
from cryoctl.core.fake_unit import FakeUnit, VirtualClock
from cryoctl.core.port import Capabilities
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment

__all__ = ["VirtualSleeper", "virtual_controller"]


class VirtualSleeper:
    def __init__(self, clock: VirtualClock, *, limit_s: float = math.inf) -> None:
        self.clock = clock
        self.limit_s = limit_s
        self._woken = False
        self._parked: asyncio.Future[None] | None = None
        self._watchers: list[asyncio.Future[None]] = []

    async def sleep_until(self, deadline_s: float) -> None:
        # Let everything that is ready run before virtual time moves on.
        for _ in range(3):
            await asyncio.sleep(0)
        while not self._woken and deadline_s > self.limit_s:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._parked = fut
            for watcher in self._watchers:
                if not watcher.done():
                    watcher.set_result(None)
            self._watchers.clear()
            try:
                await fut
            finally:
                self._parked = None
        if self._woken:
            self._woken = False
            return
        self.clock.now_s = max(self.clock.now_s, deadline_s)

    def wake(self) -> None:
        self._woken = True
        self._release()

    def allow(self, limit_s: float) -> None:
        """Let the loop move time on by itself up to ``limit_s``."""
        self.limit_s = limit_s
        self._release()

    async def parked(self) -> None:
        """Return once the loop waits for a deadline beyond the limit (and nothing is ready)."""
        while True:
            if self._is_parked():
                # parked already: give ready tasks (event closes) their turn, then re-check
                for _ in range(3):
                    await asyncio.sleep(0)
                if self._is_parked():
                    return
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._watchers.append(fut)
            await fut

    def _is_parked(self) -> bool:
        return self._parked is not None and not self._parked.done() and not self._woken

    def _release(self) -> None:
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)


def virtual_controller(
    caps: Capabilities,
    *,
    nozzle: str | None,
    period_s: float = 0.02,
    treatment_cls: type[Treatment] = Treatment,
    observer: Observer | None = None,
) -> tuple[VirtualClock, FakeUnit, Controller]:
    """A controller whose sleeps move a virtual clock instead of waiting."""
    clock = VirtualClock()
    unit = FakeUnit(caps, clock)
    unit.inputs.nozzle = nozzle
    treatment = treatment_cls(caps, AlarmManager(), control_period_s=period_s)
    controller = Controller(
        unit,
        treatment,
        SafetySupervisor(control_period_s=period_s),
        clock=clock,
        sleeper=VirtualSleeper(clock),
        period_s=period_s,
        observer=observer,
    )
    return clock, unit, controller
