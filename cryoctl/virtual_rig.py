"""The real controller loop on the fake unit in virtual time (tests and benchmarks)."""

from __future__ import annotations

import asyncio

from cryoctl.alarms import AlarmManager
from cryoctl.controller import Controller
from cryoctl.fake_unit import FakeUnit, VirtualClock
from cryoctl.port import Capabilities
from cryoctl.supervisor import SafetySupervisor
from cryoctl.treatment import Treatment

__all__ = ["virtual_controller"]


def virtual_controller(
    caps: Capabilities,
    *,
    nozzle: str | None,
    period_s: float = 0.02,
    treatment_cls: type[Treatment] = Treatment,
) -> tuple[VirtualClock, FakeUnit, Controller]:
    """A controller whose sleeps move a virtual clock instead of waiting."""
    clock = VirtualClock()
    unit = FakeUnit(caps, clock)
    unit.inputs.nozzle = nozzle

    async def sleep_until(deadline_s: float) -> None:
        # Let everything that is ready run before virtual time moves on.
        for _ in range(3):
            await asyncio.sleep(0)
        clock.now_s = max(clock.now_s, deadline_s)

    treatment = treatment_cls(caps, AlarmManager(), control_period_s=period_s)
    controller = Controller(
        unit,
        treatment,
        SafetySupervisor(control_period_s=period_s),
        clock=clock,
        sleep_until=sleep_until,
        period_s=period_s,
    )
    return clock, unit, controller
