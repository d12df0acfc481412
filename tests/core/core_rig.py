"""A fake unit on a virtual clock wired to the core the way the controller wires it.

The rig steps :class:`~cryoctl.cycle.ControlCore` synchronously: one status read
per period, exact wake-ups at the core's deadlines, unit events handled at once,
resets and lease renewals applied like :class:`~cryoctl.controller.Controller`
does. It records every output with the data it was decided on, for the oracles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from cryoctl.alarms import AlarmCode, AlarmManager
from cryoctl.cycle import ControlCore, Output
from cryoctl.errors import DeviceError
from cryoctl.fake_unit import FakeUnit, VirtualClock
from cryoctl.machine import DISCONNECTED, Phase
from cryoctl.port import Capabilities, DeviceKind, Status
from cryoctl.profile import LoadedProfile, shipped_profiles
from cryoctl.supervisor import SafetySupervisor
from cryoctl.treatment import Treatment


def shipped(name: str) -> LoadedProfile:
    return next(p for p in shipped_profiles() if p.name == name)


class Step(NamedTuple):
    """One output and what it was decided on."""

    at_s: float
    out: Output
    phase: Phase
    status: Status | None
    last_read_ok_s: float | None
    #: Alarms active when the output went out.
    active: frozenset[AlarmCode]


@dataclass
class Rig:
    clock: VirtualClock
    unit: FakeUnit
    treatment: Treatment
    core: ControlCore
    period_s: float
    steps: list[Step] = field(default_factory=list)
    last_read_ok_s: float | None = None
    #: An N2 valve stays open on a lease the loop renews while spraying.
    renews_lease: bool = False

    def _record(self, out: Output) -> None:
        t = self.treatment
        active = t.alarms.active_codes()
        self.steps.append(Step(self.clock(), out, t.phase, t.status, self.last_read_ok_s, active))

    def apply(self, out: Output) -> Output:
        self._record(out)
        if out.valve_open:
            if not self.unit.valve_open or self.renews_lease:
                try:
                    self.unit.tell_open()
                except DeviceError as exc:
                    self.unit.tell_close()
                    refused = self.core.on_open_refused(self.clock(), f"refused: {exc}")
                    self._record(refused._replace(valve_open=False))  # what went out: a close
        elif self.unit.valve_open or out.close_first:
            self.unit.tell_close()
        if out.commands.reset_estop:
            self.unit.tell_reset_estop()
        if out.commands.reset_faults:
            self.unit.tell_reset_faults()
        return out

    def boot(self, loaded: LoadedProfile) -> None:
        t, now = self.treatment, self.clock()
        t.on_connected(now)
        t.on_selftest(protection_ok=True, now=now)
        settings = t.load(loaded, now).settings
        assert settings is not None
        self.unit.tell_apply(settings)
        t.settings_applied(loaded.sha256, now)
        self.cycle()

    def cycle(self) -> Output | None:
        """One tick: read, decide, apply (and re-start after a lost link, as the shell does)."""
        try:
            status = self.unit.status_now()
        except DeviceError as exc:
            return self.apply(self.core.on_read_error(self.clock(), detail=str(exc)))
        self.last_read_ok_s = self.clock()
        if self.treatment.phase is DISCONNECTED:
            self.treatment.on_connected(self.clock())
            self.treatment.on_selftest(protection_ok=True, now=self.clock())
            # and the answer goes through the core, so the supervisor sees the link back
        return self.apply(self.core.on_status(status, self.clock()))

    def run(self, dt_s: float) -> None:
        """Run ticks (and exact deadline wake-ups) for ``dt_s`` of virtual time."""
        end = self.clock() + dt_s
        next_tick = self.clock() + self.period_s
        while True:
            deadline = self.treatment.commands().next_deadline_s
            wake = next_tick if deadline is None else min(next_tick, deadline)
            if wake > end:
                self.clock.now_s = max(self.clock.now_s, end)
                return
            self.clock.now_s = max(self.clock.now_s, wake)
            if wake < next_tick:
                self.apply(self.core.tick(self.clock()))
                continue
            next_tick += self.period_s
            self.cycle()

    def stall(self, dt_s: float) -> None:
        """The loop stalls for ``dt_s`` (no ticks), then runs one tick."""
        self.clock.advance(dt_s)
        self.cycle()

    def act(self, step: str, *args: object) -> Output:
        method = getattr(self.treatment, step)
        return self.apply(self.core.run(self.clock(), lambda now: method(*args, now)))

    def host_estop(self, source: str = "panel") -> Output:
        """What the shell does: close first, then the bookkeeping."""
        self.unit.tell_close()
        return self.act("estop", source)


def make_rig(
    caps: Capabilities,
    *,
    period_s: float = 0.02,
    nozzle: str | None = None,
    treatment_cls: type[Treatment] = Treatment,
) -> Rig:
    clock = VirtualClock()
    unit = FakeUnit(caps, clock)
    treatment = treatment_cls(caps, AlarmManager(), control_period_s=period_s)
    core = ControlCore(treatment, SafetySupervisor(control_period_s=period_s))
    rig = Rig(clock, unit, treatment, core, period_s, renews_lease=caps.kind is DeviceKind.N2)
    unit.inputs.nozzle = nozzle
    unit.subscribe(lambda event: rig.apply(core.on_event(event, clock())) and None)
    return rig
