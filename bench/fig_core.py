"""Figure 5: a whole profile in virtual time through the real controller, and the parse cost.

The controller loop (:class:`~cryoctl.control.controller.Controller`, the same class
the daemon runs) drives the fake unit in virtual time at 50 Hz through
n2-common-wart: 10 sites x 2 passes, each held past its 10 s dwell, with the 30 s
rests between, about 14 minutes of treatment time. Wall time is the figure; the
microseconds per control cycle and the profile parse follow it.
"""

from __future__ import annotations

import asyncio
import time
from importlib.resources import files
from typing import Final

from bench.context import Context
from bench.report import Row
from cryoctl.control.virtual_rig import virtual_controller
from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.profile import parse_profile, shipped_profiles

__all__ = ["figure_5", "lesion_session"]

PERIOD_S: Final = 0.02


async def lesion_session(period_s: float) -> tuple[float, int, float]:
    """Treated seconds (virtual), control cycles, and wall seconds of one whole session."""
    loaded = next(p for p in shipped_profiles() if p.name == "n2-common-wart")
    clock, unit, controller = virtual_controller(
        N2_CAPABILITIES, nozzle=loaded.profile.device.nozzle, period_s=period_s
    )
    treatment = controller.treatment

    async def until(at_s: float) -> None:
        while clock() < at_s:  # noqa: ASYNC110 - virtual time moves only when the loop runs
            await asyncio.sleep(0)

    wall = time.perf_counter()
    began_s = clock()
    await controller.start()
    await controller.load_profile(loaded)
    await controller.act(treatment.start_session)
    loop = asyncio.create_task(controller.run())
    zone = loaded.profile.zones[0]
    for site in range(zone.repeat):
        if site:
            await controller.act(treatment.next_site)
        for _ in range(zone.passes):
            unit.press_trigger()
            await until(clock() + zone.max_dwell_s + 2)
            unit.release_trigger()
            await until(clock() + zone.rest_s)
    await controller.act(treatment.finish)
    controller.stop()
    await loop
    wall = time.perf_counter() - wall
    record = treatment.records[-1]
    if record.ledger.session.passes != zone.repeat * zone.passes:
        raise RuntimeError(f"the bench session went wrong: {record}")
    return clock() - began_s, controller.cycles, wall


def parse_us(runs: int) -> float:
    data = (files("cryoctl.profiles") / "n2-face-cryomassage.toml").read_bytes()
    start = time.perf_counter()
    for _ in range(runs):
        parse_profile(data, source="n2-face-cryomassage.toml")
    return (time.perf_counter() - start) / runs * 1e6


async def figure_5(ctx: Context) -> list[Row]:
    session_s, cycles, wall_s = await lesion_session(PERIOD_S)
    per_cycle_us = wall_s / cycles * 1e6
    return [
        Row(5, f"{session_s / 60:.1f}-minute session in virtual time at 50 Hz, wall", wall_s,
            "s", target="< 1 s wall", met=wall_s < 1.0,
            detail={"virtual_s": session_s, "cycles": cycles}),
        Row(5, "per control cycle (same run)", per_cycle_us, "us", PERIOD_S * 1e6,
            "control period", detail={"cycles": cycles}),
        Row(5, "parse + validate n2-face-cryomassage", parse_us(ctx.trials(500, 50)), "us"),
    ]
