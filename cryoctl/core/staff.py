"""Staff requests as typed commands: what enters the control loop through its queue.

The daemon's control socket, the CLI and the tests all speak these. The loop
applies them between cycles, one at a time, and answers each with a
:class:`Reply`; an e-stop never waits in this queue (see
:meth:`cryoctl.control.controller.Controller.request_estop`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryoctl.profile import LoadedProfile

if TYPE_CHECKING:
    from cryoctl.core.commands import Commands
    from cryoctl.core.treatment import Treatment

__all__ = [
    "Acknowledge",
    "Dismiss",
    "LoadProfile",
    "NextSite",
    "NextZone",
    "Pause",
    "PauseAudio",
    "Reply",
    "ResetEstop",
    "ResetFaults",
    "Resume",
    "StaffCommand",
    "StartSession",
    "Stop",
    "treatment_step",
]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Choose a profile; its set-points are written to the unit before it may be used."""

    loaded: LoadedProfile


@dataclass(frozen=True, slots=True)
class StartSession:
    """Start a session on the loaded profile (the clinic's checks come before this)."""


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Stop:
    """End the session: completed on its last zone, stopped before it."""


@dataclass(frozen=True, slots=True)
class NextZone:
    pass


@dataclass(frozen=True, slots=True)
class NextSite:
    pass


@dataclass(frozen=True, slots=True)
class Dismiss:
    """Leave a completed session's summary and return to ready."""


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Acknowledge the alarms raised up to ``up_to_seq`` (all of them when None)."""

    up_to_seq: int | None = None


@dataclass(frozen=True, slots=True)
class PauseAudio:
    pass


@dataclass(frozen=True, slots=True)
class ResetEstop:
    """Ask the unit to clear its e-stop latch; never restarts a session."""


@dataclass(frozen=True, slots=True)
class ResetFaults:
    """Ask the unit to clear latched faults whose cause has gone."""


StaffCommand = (
    LoadProfile
    | StartSession
    | Pause
    | Resume
    | Stop
    | NextZone
    | NextSite
    | Dismiss
    | Acknowledge
    | PauseAudio
    | ResetEstop
    | ResetFaults
)


@dataclass(frozen=True, slots=True)
class Reply:
    """The loop's answer to one command: done, or refused with the reason in words."""

    ok: bool
    reason: str = ""


def treatment_step(t: Treatment, command: StaffCommand) -> Callable[[float], Commands]:
    """The treatment core's entry point a command calls (``LoadProfile`` is the shell's)."""
    if isinstance(command, Acknowledge):
        seq = command.up_to_seq
        return lambda now: t.acknowledge_alarms(now, up_to_seq=seq)
    steps: dict[type, Callable[[float], Commands]] = {
        StartSession: t.start_session,
        Pause: t.pause,
        Resume: t.resume,
        Stop: t.finish,
        NextZone: t.next_zone,
        NextSite: t.next_site,
        Dismiss: t.dismiss,
        PauseAudio: t.pause_audio,
        ResetEstop: t.request_estop_reset,
        ResetFaults: t.request_fault_reset,
    }
    return steps[type(command)]
