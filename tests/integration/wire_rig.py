"""The real controller on a real driver, talking to a simulated unit over a real wire.

Everything runs in real time: the controller's loop at 50 Hz with the default
:class:`~cryoctl.control.sleeper.RealtimeSleeper` and ``time.monotonic``, the driver opened
from the simulator fixture's URL, and the unit on its own event loop in a thread
(the simulator's pytest fixtures). What the valve did is read from the unit's own
valve history, in the unit's clock, and moved onto the host's clock here, so a test
can say how long after a press or a release the valve moved *at the unit*.

The CJ-Air only sprays with the cooler within 3 °C of its set-point, which the
simulated cooling stage reaches about 35 s after it is switched on; :func:`cooled`
lets the simulator's own physics run those seconds at once, before the host
connects (the unit as a clinic leaves it: switched on, cold, its watchdog tripped
because no host has spoken to it yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from cryoctl.control.controller import Controller, Observer
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.machine import Phase
from cryoctl.core.port import DevicePort
from cryoctl.core.staff import Dismiss, LoadProfile, ResetFaults, StartSession, Stop
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment
from cryoctl.profile import LoadedProfile, shipped_profiles
from drivers.cjair.driver import CjAirDriver
from drivers.n2.driver import N2Driver
from simulator.cjair.registers import Coil, Holding, to_unsigned16

PERIOD_S = 0.02
#: How often :func:`until` looks again.
POLL_S = 0.005
#: What the unit's valve history gives as the reason when the host closed it, and when
#: the unit closed it by itself (lease, watchdog, open cap).
HOST_CLOSE = {"n2": "CLOSE", "cj-air": "host"}
UNIT_EXPIRY = {"n2": ("lease", "fault:WATCHDOG"), "cj-air": ("fault:WATCHDOG", "fault:OPEN_CAP")}
#: Unit seconds the CJ-Air's cooling stage runs before the host connects (ready after ~35 s).
COOL_DOWN_S = 45.0


@dataclass(frozen=True)
class Target:
    """One simulated unit on one transport, with the profile and nozzle it is used with."""

    fixture: str
    kind: str  # "n2" | "cj-air"
    profile: str
    nozzle: str

    @property
    def cjair(self) -> bool:
        return self.kind == "cj-air"

    def url(self, handle_url: str) -> str:
        # A pty is no UART: this kernel's pty refuses the even-parity line setting when
        # the port is opened a second time (tcsetattr EINVAL), which every reconnect
        # does; parity means nothing on a pty, so the line is opened 8N1 there, as the
        # driver contract suite does.
        if self.fixture == "cjair_rtu":
            return handle_url.replace("parity=E", "parity=N")
        return handle_url


TARGETS = {
    t.fixture: t
    for t in (
        Target("n2_tcp", "n2", "n2-face-cryomassage", "M"),
        Target("n2_pty", "n2", "n2-face-cryomassage", "M"),
        Target("cjair_tcp", "cj-air", "air-face-tone", "F20"),
        Target("cjair_rtu", "cj-air", "air-face-tone", "F20"),
    )
}


def shipped(name: str) -> LoadedProfile:
    return next(p for p in shipped_profiles() if p.name == name)


@dataclass(frozen=True)
class Move:
    """One valve movement at the unit: host-clock time, open or closed, and why."""

    at_s: float
    open: bool
    why: str
    #: N2: the deadline (lease, watchdog) the unit acted on, host clock; else None.
    due_s: float | None = None


class _Ahead:
    """A unit clock running ``ahead_s`` in front of the one it wraps."""

    def __init__(self, clock: Any, ahead_s: float) -> None:
        self._clock = clock
        self._ahead_s = ahead_s

    def __call__(self) -> float:
        return float(self._clock()) + self._ahead_s

    def real_delay_s(self, sim_delay_s: float) -> float:
        return float(self._clock.real_delay_s(sim_delay_s))


def cooled(unit: Any, setpoint_c: float) -> None:
    """Switch the CJ-Air's cooling stage on at ``setpoint_c`` and let it get there.

    Written through the unit's register surface (what a host writes), then the unit's
    clock is moved on by :data:`COOL_DOWN_S`, so its own physics cools the outlet; no
    host is connected yet, and the clock runs at real speed from then on.
    """
    with unit.atomic():
        unit.write_holding(Holding.TEMP_SETPOINT, to_unsigned16(round(setpoint_c * 10)))
        unit.write_coil(Coil.COOLER_ON, True)
        unit.clock = _Ahead(unit.clock, COOL_DOWN_S)
        unit.advance()
    state = unit.state()
    assert state["discretes"]["COOLER_READY"], state["outlet_temp_c"]
    assert "COOLER" not in state["faults"], state["faults"]


class Sim:
    """The simulated unit as the tests see it: its controls, and its valve in host time."""

    def __init__(self, handle: Any, target: Target) -> None:
        self.handle = handle
        self.unit = handle.unit
        self.target = target
        self.control_url: str = handle.control_url
        # Both clocks run at real speed: one offset maps the unit's times onto the host's.
        self._offset_s = time.monotonic() - self.unit.clock()

    def host_s(self, unit_s: float) -> float:
        return unit_s + self._offset_s

    def state(self) -> dict[str, Any]:
        return dict(self.unit.state())

    def moves(self) -> list[Move]:
        """The unit's valve history (CJ-Air: the outlet drive; N2: the valve)."""
        out = []
        for m in self.state()["valve_history"]:
            due = m.get("due_s")
            out.append(
                Move(self.host_s(m["t_s"]), bool(m["open"]), str(m["why"]),
                     None if due is None else self.host_s(due))
            )
        return out

    def moves_since(self, at_s: float) -> list[Move]:
        return [m for m in self.moves() if m.at_s >= at_s]

    def expiry_due_s(self) -> float:
        """Host time at which the unit closes the valve by itself if no frame reaches it
        from now on: the N2 lease's end, the CJ-Air heartbeat lapse (WATCHDOG_MS)."""
        state = self.state()
        if self.target.cjair:
            lapse_s = state["holding"]["WATCHDOG_MS"] / 1000
            return self.host_s(state["last_heartbeat_s"] + lapse_s)
        due = state["lease_due_s"]
        assert due is not None, "no lease running"
        return self.host_s(due)

    def valve_open(self) -> bool:
        """Whether the valve is open at the unit now (CJ-Air: the outlet drive)."""
        state = self.state()
        return bool(state["valve_drive_open"] if self.target.cjair else state["valve_open"])

    def trigger(self, pressed: bool) -> float:
        """Press or release the hand-piece trigger; returns the host time just before."""
        at_s = time.monotonic()
        self.unit.set_trigger(pressed)
        return at_s

    def fault(self, name: str, active: bool, value: float | None = None) -> float:
        at_s = time.monotonic()
        self.unit.set_fault(name, active, value)
        return at_s

    async def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """The same controls over the unit's HTTP control channel."""
        async with httpx.AsyncClient(base_url=self.control_url, timeout=5.0) as client:
            reply = await client.post(route, json=body)
            reply.raise_for_status()
            answer: dict[str, Any] = reply.json()
            return answer


def make_driver(target: Target, url: str) -> DevicePort:
    if target.cjair:
        return CjAirDriver.from_url(url, clock=time.monotonic)
    return N2Driver.from_url(url, clock=time.monotonic)


@dataclass
class Rig:
    target: Target
    sim: Sim
    driver: DevicePort
    controller: Controller
    task: asyncio.Task[None]
    loaded: LoadedProfile

    @property
    def treatment(self) -> Treatment:
        return self.controller.treatment

    @property
    def phase(self) -> Phase:
        return self.controller.treatment.phase

    def raised(self) -> set[AlarmCode]:
        """Every alarm raised so far (active or not)."""
        return {
            e.code for e in self.treatment.alarms.log if e.event == "raised" and e.code is not None
        }

    async def start_session(self) -> None:
        reply = await self.controller.submit(StartSession())
        assert reply.ok, reply.reason
        assert self.phase is Phase.ARMED

    async def spraying(self, *, within_s: float = 1.0, via_http: bool = False) -> Move:
        """Press the trigger at the unit and wait until its valve has opened."""
        if via_http:
            pressed_at = time.monotonic()
            await self.sim.post("/trigger", {"pressed": True})
        else:
            pressed_at = self.sim.trigger(True)
        await until(
            lambda: any(m.open for m in self.sim.moves_since(pressed_at)),
            within_s, "the valve opening at the unit after the press", self,
        )
        assert self.phase is Phase.SPRAYING
        return next(m for m in self.sim.moves_since(pressed_at) if m.open)

    async def rearm(self) -> None:
        """A new session as staff would start one: a unit fault reset, or the running
        session ended, then the profile loaded (again) and the session started."""
        c = self.controller
        if self.phase is Phase.FAULT:
            reply = await c.submit(ResetFaults())
            assert reply.ok, reply.reason
        if self.phase in (Phase.ARMED, Phase.RESTING, Phase.PAUSED):
            reply = await c.submit(Stop())
            assert reply.ok, reply.reason
        if self.phase is Phase.COMPLETED:
            reply = await c.submit(Dismiss())
            assert reply.ok, reply.reason
        await until(lambda: self.phase in (Phase.IDLE, Phase.READY), 3.0, "idle again", self)
        reply = await self.controller.submit(LoadProfile(self.loaded))
        assert reply.ok, reply.reason
        await self.start_session()

    async def sprays_only_after_a_new_press(self, since_s: float) -> Move:
        """With the trigger held all along, nothing opens; a release and a press open it."""
        assert self.sim.state()["trigger"], "the trigger is meant to be held"
        await asyncio.sleep(0.3)
        opened = [m for m in self.sim.moves_since(since_s) if m.open]
        assert not opened, f"sprayed with the trigger held since before: {opened}"
        assert self.phase is Phase.ARMED
        self.sim.trigger(False)
        # CJ-Air has no events: a release and a press inside one poll are not seen.
        await until(
            lambda: self.treatment.status is not None and not self.treatment.status.trigger,
            1.0, "the release seen by the controller", self,
        )
        return await self.spraying()

    def describe(self) -> str:
        c = self.controller
        state = self.sim.state()
        return (
            f"phase={self.phase.value} close_pending={c.close_pending} stats={c.stats} "
            f"alarms={sorted(a.value for a in self.treatment.alarms.active_codes())} "
            f"task_done={self.task.done()} unit_valve={self.sim.valve_open()} "
            f"link={state['link']} moves={self.sim.moves()[-6:]}"
        )


async def until(
    predicate: Callable[[], bool], within_s: float, what: str, rig: Rig | None = None
) -> float:
    """Poll ``predicate`` until it holds; returns the host time it was first seen true."""
    deadline = time.monotonic() + within_s
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            detail = f"; {rig.describe()}" if rig is not None else ""
            raise AssertionError(f"{what}: not within {within_s} s{detail}")
        await asyncio.sleep(POLL_S)


@contextlib.asynccontextmanager
async def wired(
    handle: Any,
    target: Target,
    *,
    loaded: LoadedProfile | None = None,
    observer: Observer | None = None,
) -> AsyncIterator[Rig]:
    """A controller loop on ``handle``'s unit, the target's profile (or ``loaded``) loaded
    and the nozzle fitted; the loop is stopped, its task awaited and the driver closed at
    the end. ``observer`` hears every output as it goes out (before it is sent)."""
    loaded = loaded or shipped(target.profile)
    sim_unit = handle.unit
    sim_unit.set_nozzle(target.nozzle)
    if target.cjair:
        cooled(sim_unit, float(loaded.profile.device.outlet_temp_c))  # type: ignore[union-attr]
    sim = Sim(handle, target)
    driver = make_driver(target, target.url(handle.url))
    treatment = Treatment(driver.capabilities, AlarmManager(), control_period_s=PERIOD_S)
    controller = Controller(
        driver,
        treatment,
        SafetySupervisor(control_period_s=PERIOD_S),
        clock=time.monotonic,
        period_s=PERIOD_S,
        observer=observer,
    )
    task: asyncio.Task[None] | None = None
    try:
        await controller.start()
        task = asyncio.create_task(controller.run(), name="controller")
        reply = await controller.submit(LoadProfile(loaded))
        assert reply.ok, reply.reason
        assert treatment.phase is Phase.READY
        yield Rig(target, sim, driver, controller, task, loaded)
    finally:
        controller.stop()
        try:
            if task is not None:
                await asyncio.wait_for(task, timeout=5.0)
        finally:
            await driver.aclose()  # type: ignore[attr-defined]
            # the controller cancels its own close tasks on the way out: let them end
            await asyncio.sleep(0)
