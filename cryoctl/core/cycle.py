"""One control cycle without I/O: the treatment core proposes, the supervisor disposes.

The asyncio shell and the property tests both go through :class:`ControlCore`,
so what the tests prove is what the daemon runs. The supervisor is asked after
the machine and before anything reaches the unit; when it forces a close, the
machine is told, and the SUPERVISOR_CLOSE alarm is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.port import DeviceEvent, EventKind, Status
from cryoctl.core.supervisor import SafetySupervisor, Verdict
from cryoctl.core.treatment import Commands, Treatment

__all__ = ["ControlCore", "Output"]


class Output(NamedTuple):
    """What goes to the unit, and what each layer wanted."""

    #: The valve command that goes out.
    valve_open: bool
    #: What the treatment machine proposed before the supervisor's check.
    machine_open: bool
    verdict: Verdict
    commands: Commands

    @property
    def close_first(self) -> bool:
        return self.commands.close_first or self.verdict.force_close


class ControlCore:
    def __init__(self, treatment: Treatment, supervisor: SafetySupervisor) -> None:
        self.treatment = treatment
        self.supervisor = supervisor

    def _arbitrate(self, now: float, commands: Commands) -> Output:
        t = self.treatment
        verdict = self.supervisor.check(now, t.status, commands.valve_open, t.supervisor_context())
        if verdict.force_close:
            t.alarms.raise_alarm(AlarmCode.SUPERVISOR_CLOSE, now, "; ".join(verdict.reasons))
            commands = t.on_forced_close(now, verdict.reasons)
        return Output(
            valve_open=commands.valve_open and not verdict.force_close,
            machine_open=verdict.force_close or commands.valve_open,
            verdict=verdict,
            commands=commands,
        )

    def run(self, now: float, step: Callable[[float], Commands]) -> Output:
        """Any treatment entry point (``lambda now: t.pause(now)``), then the check."""
        return self._arbitrate(now, step(now))

    def on_status(self, status: Status, now: float) -> Output:
        return self._arbitrate(now, self.treatment.on_status(status, now))

    def on_read_error(self, now: float, *, detail: str = "read error") -> Output:
        return self._arbitrate(now, self.treatment.on_read_error(now, detail=detail))

    def on_event(self, event: DeviceEvent, now: float) -> Output:
        if event.kind in (EventKind.TRIGGER, EventKind.ESTOP):
            self.supervisor.on_event(event)
        return self._arbitrate(now, self.treatment.on_event(event, now))

    def on_open_refused(self, now: float, detail: str) -> Output:
        """The unit would not open: the machine and the supervisor both book the close now.

        The valve is shut whatever the machine proposes next, so the supervisor is told
        "closed" (its re-press and rest rules start from here).
        """
        t = self.treatment
        commands = t.on_forced_close(now, (detail,))
        verdict = self.supervisor.check(now, t.status, False, t.supervisor_context())
        return Output(
            valve_open=False, machine_open=commands.valve_open, verdict=verdict, commands=commands
        )

    def tick(self, now: float) -> Output:
        return self._arbitrate(now, self.treatment.tick(now))
