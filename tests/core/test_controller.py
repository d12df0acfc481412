"""The asyncio shell in virtual time, against the fake unit's timestamped history."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from core_rig import shipped

from cryoctl.control.controller import Controller, default_protection
from cryoctl.control.virtual_rig import virtual_controller
from cryoctl.core.alarms import AlarmCode
from cryoctl.core.fake_unit import CJ_AIR_CAPABILITIES, N2_CAPABILITIES, FakeUnit, VirtualClock
from cryoctl.core.machine import Phase
from cryoctl.core.port import Capabilities, DeviceSettings
from cryoctl.core.treatment import Commands, Treatment
from cryoctl.errors import ConfigMismatch

PERIOD_S = 0.02


class RogueTreatment(Treatment):
    """A broken machine: sprays whenever a session runs and the trigger is held."""

    def commands(self) -> Commands:
        honest = super().commands()
        held = self.session is not None and self.status is not None and self.status.trigger
        return replace(honest, valve_open=held, next_deadline_s=None)


def rig(
    caps: Capabilities = N2_CAPABILITIES,
    *,
    nozzle: str = "M",
    treatment_cls: type[Treatment] = Treatment,
) -> tuple[VirtualClock, FakeUnit, Controller]:
    return virtual_controller(caps, nozzle=nozzle, period_s=PERIOD_S, treatment_cls=treatment_cls)


async def until(clock: VirtualClock, at_s: float) -> None:
    """Yield to the control loop until its virtual clock reaches ``at_s``."""
    while clock() < at_s:  # noqa: ASYNC110 - virtual time moves only when the loop runs
        await asyncio.sleep(0)


async def drive(
    controller: Controller, seconds: float, scenario: Callable[[], Awaitable[None]]
) -> None:
    loop = asyncio.create_task(controller.run(max_s=seconds))
    await scenario()
    await loop


async def test_start_up_writes_and_checks_protection_then_applies_the_profile() -> None:
    _, unit, controller = rig()
    await controller.start()
    await controller.load_profile(shipped("n2-face-cryomassage"))
    told = [(t.what, t.value) for t in unit.history]
    assert told[0] == ("connect", None)
    assert told[1] == ("close", None), "a (re)start closes before anything else"
    assert told[2] == ("configure", default_protection(N2_CAPABILITIES.kind))
    assert ("apply", DeviceSettings(pressure_kpa=50.0)) in told
    assert controller.treatment.phase is Phase.READY


async def test_a_protection_that_does_not_read_back_refuses_to_arm() -> None:
    _, unit, controller = rig()
    unit.inputs.config_mismatch = True
    with pytest.raises(ConfigMismatch):
        await controller.start()
    assert controller.treatment.phase is Phase.FAULT
    assert controller.treatment.alarms.is_active(AlarmCode.CONFIG_MISMATCH)


async def test_dwell_cutoff_at_the_deadline_with_lease_renewals_and_heartbeats() -> None:
    clock, unit, controller = rig()
    await controller.start()
    await controller.load_profile(shipped("n2-face-cryomassage"))  # 3 s dwell
    t0 = clock()

    async def scenario() -> None:
        await controller.act(controller.treatment.start_session)
        await until(clock, t0 + 0.105)
        unit.press_trigger()
        await until(clock, t0 + 5.0)
        unit.release_trigger()

    await drive(controller, 6.0, scenario)
    [(opened, closed)] = unit.open_intervals()
    assert closed is not None and closed - opened == pytest.approx(3.0, abs=1e-9)
    renewals = [t.at_s for t in unit.told("open") if opened <= t.at_s < closed]
    assert len(renewals) >= 3.0 / PERIOD_S - 1, "the N2 lease is renewed every tick"
    beats = [t.at_s for t in unit.told("heartbeat")]
    assert beats and max(b - a for a, b in itertools.pairwise(beats)) <= 0.1 + 1e-9
    assert controller.cycles == pytest.approx(6.0 / PERIOD_S, abs=2)


async def test_trigger_release_closes_at_once_not_at_the_next_tick() -> None:
    clock, unit, controller = rig()
    await controller.start()
    await controller.load_profile(shipped("n2-face-cryomassage"))
    t0 = clock()

    async def scenario() -> None:
        await controller.act(controller.treatment.start_session)
        unit.press_trigger()
        await until(clock, t0 + 1.0)
        await asyncio.sleep(0)
        released_at = clock()
        unit.release_trigger()
        for _ in range(5):
            await asyncio.sleep(0)
        closes = [t.at_s for t in unit.told("close") if t.at_s >= released_at]
        assert closes and closes[0] == released_at

    await drive(controller, 1.5, scenario)
    assert controller.treatment.phase is Phase.RESTING


async def test_estop_sends_the_close_first() -> None:
    clock, unit, controller = rig()
    await controller.start()
    await controller.load_profile(shipped("n2-face-cryomassage"))
    t0 = clock()

    async def scenario() -> None:
        await controller.act(controller.treatment.start_session)
        unit.press_trigger()
        await until(clock, t0 + 0.5)
        assert unit.valve_open
        before = len(unit.history)
        await controller.request_estop("panel")
        assert unit.history[before].what == "close"
        assert not unit.valve_open
        assert controller.treatment.phase is Phase.ESTOP

    await drive(controller, 1.0, scenario)
    assert not unit.valve_open
    assert controller.treatment.records[-1].outcome == "estop"


@pytest.mark.parametrize("caps,nozzle", [(N2_CAPABILITIES, "M"), (CJ_AIR_CAPABILITIES, "F20")])
async def test_supervisor_closes_a_broken_machine_within_one_cycle(
    caps: Capabilities, nozzle: str
) -> None:
    clock, unit, controller = rig(caps, nozzle=nozzle, treatment_cls=RogueTreatment)
    loaded = shipped("n2-face-cryomassage" if caps is N2_CAPABILITIES else "air-face-tone")
    dwell_s = loaded.profile.zones[0].max_dwell_s
    await controller.start()
    await controller.load_profile(loaded)
    t0 = clock()

    async def scenario() -> None:
        await controller.act(controller.treatment.start_session)
        unit.press_trigger()  # and never let go: the rogue would spray forever
        await until(clock, t0 + dwell_s + 2.0)
        wrong = next(n for n in caps.nozzles if n != nozzle)
        unit.release_trigger()
        unit.fit_nozzle(wrong)
        await until(clock, t0 + dwell_s + 200.0)
        unit.press_trigger()

    await drive(controller, dwell_s + 205.0, scenario)
    spans = unit.open_intervals()
    assert len(spans) == 1, "the wrong nozzle sprayed"
    opened, closed = spans[0]
    assert closed is not None
    assert dwell_s < closed - opened <= dwell_s + PERIOD_S + 1e-9
    assert controller.core.supervisor.interventions > 0
    assert controller.treatment.alarms.is_active(AlarmCode.SUPERVISOR_CLOSE)


async def test_read_errors_close_then_lose_the_link_then_reconnect() -> None:
    clock, unit, controller = rig()
    await controller.start()
    await controller.load_profile(shipped("n2-face-cryomassage"))
    t0 = clock()

    async def scenario() -> None:
        await controller.act(controller.treatment.start_session)
        unit.press_trigger()
        await until(clock, t0 + 0.5)
        assert unit.valve_open
        unit.inputs.fail_reads = 10
        await until(clock, t0 + 0.53)
        assert not unit.valve_open, "a read error while spraying closes"
        await until(clock, t0 + 0.7)
        assert controller.treatment.phase is Phase.DISCONNECTED
        assert controller.treatment.alarms.is_active(AlarmCode.COMM_LOST)

    await drive(controller, 1.2, scenario)
    # back within the grace time: the session is held, paused, and reads the protection back
    assert controller.treatment.phase is Phase.PAUSED
    assert not controller.treatment.records
    assert len(unit.told("configure")) == 2
    outage_s = controller.treatment.last_outage_s
    assert outage_s is not None and 0.1 < outage_s < 0.3  # from the loss, 3 periods in
