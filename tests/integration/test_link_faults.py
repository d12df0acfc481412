"""Link faults against the real controller, the real drivers and a simulated unit.

The controller runs in real time (``time.monotonic``, the default sleeper) around
``N2Driver`` / ``CjAirDriver`` talking to an in-process simulated unit over TCP or a
pty. While the unit sprays, a link fault is switched on at the simulator; the
valve's history there (stamped by the unit's own clock) says when it really closed,
and the controller is asked what it made of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cryoctl.control.controller import Controller
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.machine import Phase
from cryoctl.core.port import DevicePort
from cryoctl.core.session import Outcome
from cryoctl.core.snapshot import Snapshot
from cryoctl.core.staff import LoadProfile, Resume, StartSession
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment
from cryoctl.profile import LoadedProfile, shipped_profiles
from drivers.cjair.driver import CjAirDriver
from drivers.n2.driver import N2Driver

pytestmark = [pytest.mark.timeout(60)]

PERIOD_S = 0.02
N2_PROFILE = "n2-face-cryomassage"
AIR_PROFILE = "air-face-tone"


def _profile(name: str) -> LoadedProfile:
    for loaded in shipped_profiles():
        if loaded.name == name:
            return loaded
    raise AssertionError(f"no shipped profile {name}")


async def until(what: Callable[[], Any], timeout_s: float, why: str) -> float:
    """Poll ``what`` every 5 ms until it is true; returns the monotonic time it was."""
    deadline = time.monotonic() + timeout_s
    while True:
        if what():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {why}")
        await asyncio.sleep(0.005)


async def holds(what: Callable[[], Any], for_s: float, why: str) -> None:
    """``what`` stays true for ``for_s`` (polled every 5 ms)."""
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        assert what(), why
        await asyncio.sleep(0.005)


@dataclass
class Rig:
    unit: Any  # N2Unit | CjAirUnit: both have set_trigger, set_fault, state
    port: DevicePort
    controller: Controller
    task: asyncio.Task[None]
    kind: str
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def phase(self) -> Phase:
        return self.controller.treatment.phase

    def active(self, code: AlarmCode) -> bool:
        return self.controller.treatment.alarms.is_active(code)

    def valve_open(self) -> bool:
        return bool(self.unit.state()["valve_open"])

    def history(self) -> list[dict[str, Any]]:
        return list(self.unit.state()["valve_history"])

    def sim_now(self) -> float:
        return float(self.unit.state()["t_s"])

    def closes_after(self, t_s: float) -> list[float]:
        """When (unit clock) the valve closed at or after ``t_s``."""
        return [h["t_s"] for h in self.history() if not h["open"] and h["t_s"] >= t_s]

    def opens_after(self, t_s: float) -> list[float]:
        return [h["t_s"] for h in self.history() if h["open"] and h["t_s"] >= t_s]

    def fault(self, name: str, active: bool, value: float | None = None) -> float:
        """Switch a link fault; returns the unit's clock at the switch."""
        self.unit.set_fault(name, active, value)
        return self.sim_now()

    async def spray(self) -> None:
        """Press the trigger and wait until the unit's valve is open."""
        self.unit.set_trigger(True)
        await until(lambda: self.phase is Phase.SPRAYING and self.valve_open(), 5,
                    f"spraying (phase {self.phase.value})")

    def task_alive(self) -> bool:
        return not self.task.done()


@contextlib.asynccontextmanager
async def rig(port: DevicePort, unit: Any, kind: str, profile: str, *,
              link_grace_s: float | None = None,
              ready: Callable[[], Any] | None = None) -> AsyncIterator[Rig]:
    caps = port.capabilities
    options = {} if link_grace_s is None else {"link_grace_s": link_grace_s}
    treatment = Treatment(caps, AlarmManager(), control_period_s=PERIOD_S, **options)
    controller = Controller(port, treatment, SafetySupervisor(control_period_s=PERIOD_S),
                            clock=time.monotonic, period_s=PERIOD_S)
    task: asyncio.Task[None] | None = None
    try:
        await controller.start()
        task = asyncio.create_task(controller.run())
        reply = await controller.submit(LoadProfile(_profile(profile)))
        assert reply.ok, reply.reason
        if ready is not None:
            ready()
        await until(lambda: treatment.phase is Phase.READY, 10,
                    f"ready (phase {treatment.phase.value}, refusals {treatment.refusals})")
        reply = await controller.submit(StartSession())
        assert reply.ok, reply.reason
        await until(lambda: treatment.phase is Phase.ARMED, 5, "armed")
        yield Rig(unit, port, controller, task, kind)
    finally:
        unit.set_trigger(False)
        for name in ("drop_all", "corrupt", "delay", "freeze"):
            unit.set_fault(name, False)
        if task is not None:
            controller.stop()
            await asyncio.wait_for(task, 5)
        await port.aclose()


@contextlib.asynccontextmanager
async def n2_rig(handle: Any, **options: Any) -> AsyncIterator[Rig]:
    handle.unit.set_nozzle("M")
    port = N2Driver.from_url(handle.url, clock=time.monotonic)
    async with rig(port, handle.unit, "n2", N2_PROFILE, **options) as r:
        yield r


def _chill(unit: Any) -> None:
    """The CJ-Air simulator has no cold start and its speed scales the watchdog too:
    set the outlet at the profile's setpoint, as a unit whose cooler ran before."""
    with unit.atomic():
        unit._s.physics.outlet_temp_c = -30.0


@contextlib.asynccontextmanager
async def air_rig(handle: Any, **options: Any) -> AsyncIterator[Rig]:
    handle.unit.set_nozzle("F20")
    handle.unit.set_skin(True)
    port = CjAirDriver.from_url(handle.url, clock=time.monotonic)
    async with rig(port, handle.unit, "cj-air", AIR_PROFILE,
                   ready=lambda: _chill(handle.unit), **options) as r:
        yield r


# -- the cases --------------------------------------------------------------------------

#: The unit's own expiry: N2 lease (default_protection: 200 ms), CJ-Air WATCHDOG_MS 500.
EXPIRY_S = {"n2": 0.2, "cj-air": 0.5}
#: Slack on the unit's expiry: the last renewal may go out up to a tick before the drop,
#: plus the simulator's timer on a busy box.
EXPIRY_SLACK_S = 0.15


@contextlib.asynccontextmanager
async def unit_rig(kind: str, transport: str, request: pytest.FixtureRequest,
                   **options: Any) -> AsyncIterator[Rig]:
    if kind == "n2":
        factory = request.getfixturevalue("n2_factory")
        async with n2_rig(factory(transport), **options) as r:
            yield r
    else:
        factory = request.getfixturevalue("cjair_factory")
        handle = factory(transport=transport, nozzle="F20")
        # A pty refuses parity settings (it has none); the line is the same.
        handle.url = handle.url.replace("parity=E", "parity=N")
        async with air_rig(handle, **options) as r:
            yield r


class Watch:
    """Every snapshot the controller publishes, kept (phase, alarms, spray, data age)."""

    def __init__(self, r: Rig) -> None:
        self.snaps: list[Snapshot] = []
        self._stop = r.controller.subscribe(self._hear)

    def _hear(self, item: Any) -> None:
        if isinstance(item, Snapshot):
            self.snaps.append(item)

    def close(self) -> None:
        self._stop()

    def phases(self) -> set[str]:
        return {s.phase for s in self.snaps}

    def alarms(self) -> set[AlarmCode]:
        return {a.code for s in self.snaps for a in s.alarms.alarms}

    def spraying_ages(self) -> list[float]:
        return [s.unit.fast_age_s for s in self.snaps
                if s.session is not None and s.session.spraying and s.unit is not None]


async def hold_fault(r: Rig, name: str, for_s: float, value: float | None = None) -> float:
    """Switch a link fault on for ``for_s`` of the unit's clock; returns when it began."""
    t0 = r.fault(name, True, value)
    await asyncio.sleep(max(0.0, for_s - (r.sim_now() - t0)))  # the unit's clock runs at 1x
    r.fault(name, False)
    return t0


async def no_spray_without_new_press(r: Rig, since_s: float) -> None:
    """The trigger is still held: nothing opens; after Resume still nothing, until a
    release and a new press."""
    assert r.unit.state()["trigger"] is True
    await holds(lambda: not r.valve_open(), 0.4, "the held trigger sprays after the return")
    if r.phase is Phase.PAUSED:
        reply = await r.controller.submit(Resume())
        assert reply.ok, reply.reason
    await holds(lambda: not r.valve_open() and r.phase is not Phase.SPRAYING, 0.4,
                "a resume with the trigger still held sprays (tie-down)")
    r.unit.set_trigger(False)
    # The loss ended the pass: the zone's rest runs now, so the release cannot be
    # followed by a new spray within a test's few seconds; it must not spray either.
    await holds(lambda: not r.valve_open() and r.phase is not Phase.SPRAYING, 0.2,
                "sprays on the release")
    assert r.opens_after(since_s) == []


@pytest.mark.parametrize(("kind", "transport"),
                         [("n2", "tcp"), ("n2", "pty"), ("cj-air", "tcp"), ("cj-air", "rtu")])
async def test_a_0_3_s_drop_closes_at_the_unit_and_holds_the_session(
        kind: str, transport: str, request: pytest.FixtureRequest) -> None:
    await _drop_and_return(kind, transport, request, drop_s=0.3)


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_a_3_s_drop_within_the_grace_comes_back_paused(
        kind: str, request: pytest.FixtureRequest) -> None:
    await _drop_and_return(kind, "tcp", request, drop_s=3.0)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_a_30_s_drop_within_a_long_grace_comes_back_paused(
        kind: str, request: pytest.FixtureRequest) -> None:
    await _drop_and_return(kind, "tcp", request, drop_s=30.0, link_grace_s=60.0)


async def _drop_and_return(kind: str, transport: str, request: pytest.FixtureRequest, *,
                           drop_s: float, link_grace_s: float | None = None) -> None:
    async with unit_rig(kind, transport, request, link_grace_s=link_grace_s) as r:
        await r.spray()
        watch = Watch(r)
        t0 = r.fault("drop_all", True)
        await until(lambda: r.phase is Phase.DISCONNECTED and r.active(AlarmCode.COMM_LOST),
                    max(drop_s, 1.5), f"disconnected with COMM_LOST ({r.phase.value})")
        closes = r.closes_after(t0)
        assert closes, "the unit's valve did not close on its own"
        closed_after_s = closes[0] - t0
        print(f"{kind}/{transport} drop {drop_s} s: valve closed at the unit "
              f"{closed_after_s * 1000:.0f} ms after the drop began")
        assert closed_after_s <= EXPIRY_S[kind] + EXPIRY_SLACK_S
        await asyncio.sleep(max(0.0, drop_s - (r.sim_now() - t0)))  # the unit's clock runs at 1x
        back = r.fault("drop_all", False)
        await until(lambda: r.phase is Phase.PAUSED, 1.5, f"paused after the return ({r.phase})")
        print(f"  paused {r.sim_now() - back:.3f} s after frames flowed again")
        assert r.sim_now() - back < 1.0 + 0.5  # the state poll itself lags a little
        assert r.controller.treatment.session is not None
        assert r.task_alive()
        await no_spray_without_new_press(r, t0)
        watch.close()
        assert Phase.FAULT.value not in watch.phases()


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_a_drop_past_the_grace_ends_the_session_interrupted(
        kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request, link_grace_s=1.0) as r:
        await r.spray()
        t0 = await hold_fault(r, "drop_all", 3.0)
        await until(lambda: r.phase not in (Phase.DISCONNECTED, Phase.SELFTEST), 2,
                    f"back after the drop ({r.phase.value})")
        print(f"{kind}: after a 3 s drop (grace 1 s) phase {r.phase.value}, "
              f"valve closed at the unit at +{(r.closes_after(t0) or [-1])[0] - t0:.3f} s")
        assert r.controller.treatment.session is None
        assert r.controller.treatment.records[-1].outcome is Outcome.INTERRUPTED
        assert r.phase is Phase.IDLE
        await holds(lambda: not r.valve_open(), 0.3, "sprays after an interrupted session")
        assert r.opens_after(t0) == []


# -- 2. corrupted checksums / CRCs ----------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.01, 0.5])
@pytest.mark.parametrize(("kind", "transport"), [("n2", "pty"), ("cj-air", "rtu")])
async def test_corrupted_answers(kind: str, transport: str, ratio: float,
                                 request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, transport, request) as r:
        await r.spray()
        watch = Watch(r)
        t0 = await hold_fault(r, "corrupt", 2.0, ratio)
        end_phase, end_open = r.phase, r.valve_open()
        await asyncio.sleep(0.3)
        watch.close()
        ages = watch.spraying_ages()
        print(f"{kind}/{transport} corrupt {ratio}: end phase {end_phase.value}, valve open "
              f"{end_open}, closes at the unit {[round(c - t0, 3) for c in r.closes_after(t0)]},"
              f" phases {sorted(watch.phases())}, alarms {sorted(watch.alarms())}, "
              f"max data age while spraying {max(ages, default=0) * 1000:.0f} ms, "
              f"read errors {r.controller.stats.read_errors}")
        assert r.task_alive()
        assert r.controller.stats.internal_errors == 0
        # Nothing sprays on stale data: the status the spray was judged on is fresh.
        assert max(ages, default=0.0) <= 2 * PERIOD_S + 0.06
        if ratio >= 0.5:
            assert not end_open or end_phase is Phase.DISCONNECTED or \
                AlarmCode.COMM_LOST in watch.alarms()


# -- 3. answers delayed past the driver's timeout -----------------------------------------------


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_answers_delayed_past_the_timeout(kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        watch = Watch(r)
        t0 = await hold_fault(r, "delay", 1.0, 400)
        closes = r.closes_after(t0)
        assert closes, "the valve did not close during the delay"
        await until(lambda: r.phase in (Phase.PAUSED, Phase.ARMED), 3,
                    f"link back after the delay ({r.phase.value})")
        watch.close()
        print(f"{kind} delay 400 ms: valve closed at the unit at +{closes[0] - t0:.3f} s, "
              f"phases {sorted(watch.phases())}, alarms {sorted(watch.alarms())}, "
              f"back as {r.phase.value}")
        assert watch.alarms() & {AlarmCode.COMM_LOST, AlarmCode.STALE_DATA}
        assert r.task_alive()
        await no_spray_without_new_press(r, t0)


# -- 4. readings frozen ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "when"),
                         [("cj-air", "at-start"), ("n2", "tip-falling"), ("n2", "at-start")])
async def test_frozen_readings_while_spraying_stop_the_spray(
        kind: str, when: str, request: pytest.FixtureRequest) -> None:
    """CJ-Air: the heartbeat echo stops following, STALE_DATA within ~0.6 s. N2: a tip
    held in the band (-190..15 degC) while spraying is READINGS_FROZEN after 1 s; a
    freeze at the spray's first status holds the tip at room temperature, above the
    band, which the core reads as no flow (NO_FLOW at 2 s), by design."""
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        treatment = r.controller.treatment
        if when == "tip-falling":
            await until(lambda: treatment.status is not None
                        and treatment.status.tip_temp_c is not None
                        and treatment.status.tip_temp_c < 10.0, 1, "the tip falls")
        tip = treatment.status.tip_temp_c if treatment.status is not None else None
        watch = Watch(r)
        t0 = r.fault("freeze", True)
        await until(lambda: r.closes_after(t0), 3, "the valve closes on frozen readings")
        closed_after_s = r.closes_after(t0)[0] - t0
        await asyncio.sleep(0.2)
        watch.close()
        print(f"{kind} freeze while spraying ({when}, tip {tip}): valve closed at the unit "
              f"+{closed_after_s:.3f} s, alarms {sorted(watch.alarms())}")
        if kind == "cj-air":
            code, within_s = AlarmCode.STALE_DATA, 0.6
        elif when == "tip-falling":
            code, within_s = AlarmCode.READINGS_FROZEN, 1.3
        else:
            code, within_s = AlarmCode.NO_FLOW, 2.0
        assert code in watch.alarms()
        assert closed_after_s <= within_s + 0.1
        assert r.phase is not Phase.SPRAYING
        assert Phase.ESTOP.value not in watch.phases()
        assert r.task_alive()


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_frozen_readings_after_a_close_are_no_estop_and_no_spray(
        kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        r.unit.set_trigger(False)
        await until(lambda: not r.valve_open()
                    and r.phase in (Phase.ARMED, Phase.RESTING), 2, "closed")
        watch = Watch(r)
        t0 = await hold_fault(r, "freeze", 1.5)
        watch.close()
        print(f"{kind} freeze after a close: phases {sorted(watch.phases())}, "
              f"alarms {sorted(watch.alarms())}")
        assert Phase.ESTOP.value not in watch.phases()
        assert AlarmCode.ESTOP not in watch.alarms()
        assert r.opens_after(t0) == []
        assert r.task_alive()


# -- 5. reconnects ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_a_blip_of_a_drop_is_no_fault(kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        watch = Watch(r)
        r.fault("drop_all", True)
        r.fault("drop_all", False)
        await asyncio.sleep(0.5)
        watch.close()
        print(f"{kind} blip: phases {sorted(watch.phases())}, alarms {sorted(watch.alarms())}")
        assert Phase.FAULT.value not in watch.phases()
        assert AlarmCode.UNIT_FAULT not in watch.alarms()
        assert r.phase in (Phase.SPRAYING, Phase.PAUSED, Phase.ARMED)


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_a_drop_that_trips_the_watchdog_comes_back_paused_not_fault(
        kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        watch = Watch(r)
        await hold_fault(r, "drop_all", 1.0)
        await until(lambda: r.phase not in (Phase.DISCONNECTED, Phase.SELFTEST), 2,
                    f"back ({r.phase.value})")
        await asyncio.sleep(0.2)
        watch.close()
        print(f"{kind} 1 s drop: back as {r.phase.value}, phases {sorted(watch.phases())}, "
              f"alarms {sorted(watch.alarms())}")
        assert r.phase is Phase.PAUSED
        assert not r.active(AlarmCode.UNIT_FAULT)
        assert Phase.FAULT.value not in watch.phases()


# -- 6. e-stop during a drop ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
async def test_an_estop_during_a_drop(kind: str, request: pytest.FixtureRequest) -> None:
    async with unit_rig(kind, "tcp", request) as r:
        await r.spray()
        t0 = r.fault("drop_all", True)
        await asyncio.sleep(0.1)
        began = time.monotonic()
        acknowledged = await asyncio.wait_for(r.controller.request_estop("panel"), 2)
        took_s = time.monotonic() - began
        assert r.phase is Phase.ESTOP
        r.fault("drop_all", False)
        await until(lambda: not r.controller.close_pending, 3, "the close confirmed")
        print(f"{kind} e-stop in a drop: call took {took_s * 1000:.0f} ms (acknowledged "
              f"{acknowledged}), valve closed at the unit at "
              f"+{r.closes_after(t0)[0] - t0:.3f} s, phase {r.phase.value}")
        assert r.phase is Phase.ESTOP
        assert r.controller.treatment.records[-1].outcome is Outcome.ESTOP
        assert not r.valve_open()
        assert r.opens_after(t0) == []
