"""The real controller on a fake unit in virtual time, stepped from synchronous tests.

The rig runs :class:`~cryoctl.control.controller.Controller`'s own loop as a task on an
event loop of its own, with a :class:`~cryoctl.control.virtual_rig.VirtualSleeper` that
moves the virtual clock only as far as the test allows: ``run(dt)`` lets the loop
tick (and wake at its exact deadlines) for ``dt`` of virtual time, ``stall(dt)``
moves time with the loop held, then lets it run late. Staff requests go through
the controller's command queue, e-stops through ``request_estop``, unit events
straight from the fake unit into the controller. Every output the controller
sends is recorded with the data it was decided on, for the oracles.
"""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from cryoctl.control.controller import Controller
from cryoctl.control.virtual_rig import VirtualSleeper
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.cycle import ControlCore, Output
from cryoctl.core.fake_unit import FakeUnit, VirtualClock
from cryoctl.core.machine import Phase
from cryoctl.core.port import Capabilities, Status
from cryoctl.core.staff import (
    Acknowledge,
    Dismiss,
    NextSite,
    NextZone,
    Pause,
    PauseAudio,
    ResetEstop,
    ResetFaults,
    Resume,
    StaffCommand,
    StartSession,
    Stop,
)
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment
from cryoctl.errors import MachineRefused
from cryoctl.profile import LoadedProfile, shipped_profiles

#: Rigs not yet closed (the core tests' conftest closes them after each test).
OPEN_RIGS: list[Rig] = []
T = TypeVar("T")

#: Wall-clock bound on one step of the rig. Virtual time makes a step take
#: milliseconds; a step that takes this long waits on something that never comes
#: (a loop that died, a reply never sent), and failing beats hanging: a hang is
#: caught once by pytest-timeout, then again on every replay Hypothesis makes of it.
STEP_GUARD_S = 30.0


def shipped(name: str) -> LoadedProfile:
    return next(p for p in shipped_profiles() if p.name == name)


#: The treatment entry points the tests name, as the staff commands that reach them.
COMMANDS: dict[str, StaffCommand] = {
    "start_session": StartSession(),
    "pause": Pause(),
    "resume": Resume(),
    "finish": Stop(),
    "next_site": NextSite(),
    "next_zone": NextZone(),
    "dismiss": Dismiss(),
    "acknowledge_alarms": Acknowledge(),
    "pause_audio": PauseAudio(),
    "request_estop_reset": ResetEstop(),
    "request_fault_reset": ResetFaults(),
}


class Step(NamedTuple):
    """One output and what it was decided on."""

    at_s: float
    out: Output
    phase: Phase
    status: Status | None
    last_read_ok_s: float | None
    #: Alarms active when the output went out.
    active: frozenset[AlarmCode]
    #: Requests that failed so far: reads, writes and closes (the shell's count, not the
    #: core's judgement).
    failed_requests: int = 0


@dataclass
class Rig:
    clock: VirtualClock
    unit: FakeUnit
    controller: Controller
    sleeper: VirtualSleeper
    loop: asyncio.AbstractEventLoop
    steps: list[Step] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def treatment(self) -> Treatment:
        return self.controller.treatment

    @property
    def core(self) -> ControlCore:
        return self.controller.core

    @property
    def period_s(self) -> float:
        return self.controller.period_s

    @property
    def last_read_ok_s(self) -> float | None:
        return self.controller.last_read_ok_s

    def record(self, out: Output, status: Status | None) -> None:
        t = self.treatment
        active = t.alarms.active_codes()
        self.steps.append(Step(self.clock(), out, t.phase, status, self.last_read_ok_s, active,
                               self._failed_requests()))

    def _failed_requests(self) -> int:
        stats = self.controller.stats
        return stats.read_errors + stats.write_errors + stats.close_failures

    # -- driving the loop ---------------------------------------------------------------

    def _drive(self, awaitable: Awaitable[T], what: str) -> T:
        """Run ``awaitable`` on the rig's loop; fail, not hang, if the control loop ends."""

        async def race() -> T:
            job = asyncio.ensure_future(awaitable)
            waiting: set[asyncio.Future[Any]] = {job}
            if self.task is not None:
                waiting.add(self.task)
            await asyncio.wait(waiting, timeout=STEP_GUARD_S, return_when=FIRST_COMPLETED)
            if job.done():
                return job.result()
            job.cancel()
            self._check_loop()
            raise AssertionError(f"{what}: no answer within {STEP_GUARD_S:.0f} s of wall time")

        return self.loop.run_until_complete(race())

    def _check_loop(self) -> None:
        task = self.task
        if task is not None and task.done():
            task.result()  # the loop must never end with an exception
            raise AssertionError("the control loop ended")

    def _settle(self) -> None:
        """Let the loop do all it has to at this instant (and up to the allowed time)."""
        self._check_loop()
        self._drive(self.sleeper.parked(), "the control loop did not park")

    def boot(self, loaded: LoadedProfile) -> None:
        """Connect, self-test, load the profile, then start the loop."""
        self.sleeper.allow(self.clock())
        self.loop.run_until_complete(self.controller.start())
        self.loop.run_until_complete(self.controller.load_profile(loaded))
        self.task = self.loop.create_task(self.controller.run())
        self._settle()

    def run(self, dt_s: float) -> None:
        """Run ticks (and exact deadline wake-ups) for ``dt_s`` of virtual time."""
        end = self.clock() + dt_s
        self.sleeper.allow(end)
        self._settle()
        self.clock.now_s = max(self.clock.now_s, end)
        self.sleeper.allow(self.clock.now_s)

    def stall(self, dt_s: float) -> None:
        """The loop stalls for ``dt_s`` (no ticks), then runs late."""
        self.clock.advance(dt_s)
        self.sleeper.allow(self.clock())
        self._settle()

    def act_command(self, command: StaffCommand) -> None:
        """A staff command through the controller's queue; MachineRefused when refused."""
        reply = self._drive(self.controller.submit(command),
                            f"{type(command).__name__} was not answered")
        self._settle()
        if not reply.ok:
            raise MachineRefused(reply.reason)

    def act(self, step: str, *args: object) -> None:
        if step == "estop":
            source = str(args[0]) if args else "panel"
            self.host_estop(source)
            return
        self.act_command(COMMANDS[step])

    def host_estop(self, source: str = "panel") -> bool:
        """The panel's e-stop: latched at once, the close sent ahead of everything."""
        acknowledged = self._drive(
            self.controller.request_estop(source), "the e-stop was not acknowledged"
        )
        self._settle()
        return acknowledged

    def settle(self) -> None:
        """Let the loop act on what just happened (an event, a change at the unit)."""
        self.sleeper.allow(self.clock())
        self._settle()

    def close(self) -> None:
        """Stop the loop (it closes the valve) and release the event loop."""
        if self.loop.is_closed():
            return
        task = self.task
        if task is not None and not task.done():
            self.controller.stop()
            self.sleeper.allow(float("inf"))
            self.loop.run_until_complete(asyncio.wait_for(task, STEP_GUARD_S))
        elif task is not None:
            task.result()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        if self in OPEN_RIGS:
            OPEN_RIGS.remove(self)


def make_rig(
    caps: Capabilities,
    *,
    period_s: float = 0.02,
    nozzle: str | None = None,
    treatment_cls: type[Treatment] = Treatment,
    unit: FakeUnit | None = None,
    clock: VirtualClock | None = None,
    link_grace_s: float | None = None,
) -> Rig:
    clock = clock or VirtualClock()
    unit = unit or FakeUnit(caps, clock)
    if nozzle is not None or unit.inputs.nozzle is None:
        unit.inputs.nozzle = nozzle
    sleeper = VirtualSleeper(clock, limit_s=clock())
    treatment = treatment_cls(caps, AlarmManager(), control_period_s=period_s)
    if link_grace_s is not None:
        treatment.link_grace_s = link_grace_s
    loop = asyncio.new_event_loop()
    holder: list[Rig] = []
    controller = Controller(
        unit,
        treatment,
        SafetySupervisor(control_period_s=period_s),
        clock=clock,
        sleeper=sleeper,
        period_s=period_s,
        observer=lambda out, status: holder[0].record(out, status),
    )
    rig = Rig(clock, unit, controller, sleeper, loop)
    holder.append(rig)
    OPEN_RIGS.append(rig)
    return rig
