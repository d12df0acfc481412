"""Which CJ-Air tables one status needs, so the poll fits a 19200-baud line.

At 19200 baud 8E1 a bit-table read costs ~8 ms of wire time, the 11 input registers
~20 ms and a register write ~9 ms (request + answer, without gaps). A 50 Hz loop
therefore reads only the discrete inputs every tick (trigger, e-stop latch, valve
feedback, watchdog, fault, hose, cooler ready) and the rest when needed:

- input registers (temperatures, O2, nozzle, fault bits, HEARTBEAT_ECHO): when
  ``slow_period_s`` old or older, and at once when the FAULT input disagrees with
  the bits held. They never wait: the core judges them by their age.
- coils (the OUTLET_OPEN read-back): on the first poll that begins after an
  OUTLET_OPEN write, at once when an input that makes the unit force the outlet
  closed changes (e-stop, watchdog, fault, hose, valve feedback), and when
  ``slow_period_s`` old; a read due by age alone waits one poll if this poll reads
  the input registers (so the two slow tables do not fall on one tick), but never
  once it is ``COIL_GRACE`` periods old. The unit never sets OUTLET_OPEN by itself,
  so a coil read as 0 stays exact until the host writes 1, and a coil read as 1 may
  turn 0 only together with one of those inputs, which are read on every poll.

Each table's time is the host clock taken just before its request was queued, so the
unit answered it at that time or later (a retried or queued read looks older than it
is, never younger). ``Status.read_at_s`` is the discrete inputs' time; ``valve_at_s``
the coils'; ``telemetry_at_s`` the input registers'. A table read in this poll was
read after the discrete inputs, so its time is then later than ``read_at_s``.

Bounds that hold for every status returned (``P`` = ``slow_period_s``):

- ``read_at_s - telemetry_at_s < P``: the input registers are never older than ``P``
  when the poll begins, so at most ``P`` plus the poll's own duration when it is
  returned (200 ms + a few ms by default; the core tolerates 0.3 s);
- ``read_at_s - valve_at_s < COIL_GRACE * P`` (up to 0.3 s by default, not two
  control periods: between OUTLET_OPEN writes the coil is read slowly, and what
  keeps its value exact is the rule above; the status after a write has read it
  again, so ``valve_at_s`` later than the write is the unit's confirmation);
- ``heartbeat_echo`` is the last HEARTBEAT the unit took before the input registers
  were read: every heartbeat write acknowledged before ``telemetry_at_s`` shows in it
  (that value or a later one), and so does every heartbeat acknowledged ``P`` or
  more before the poll began. A heartbeat write does not make the next poll read the
  input registers (that would add the slowest read to every heartbeat on RTU), so
  the echo may lag the newest heartbeat by up to ``P`` plus one poll; a check of the
  echo must compare it with the heartbeats written before ``telemetry_at_s``.
  :meth:`forget` (start-up, fault reset, a lost link) makes the next poll read every
  table, so the first status after ``configure`` already echoes its heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cryoctl.core.port import Status
from drivers.cjair.bus import ModbusBus
from drivers.cjair.codec import Telemetry, build_status, decode_telemetry
from drivers.cjair.registers import COIL_BLOCK, DISCRETE_BLOCK, INPUT_BLOCK, Discrete

__all__ = ["COIL_GRACE", "StatusPoller"]

#: the oldest a coil read may grow (in slow periods) while it waits off a telemetry poll
COIL_GRACE: Final = 1.5

#: inputs whose change can come with the unit forcing the outlet closed
_FORCING_INPUTS = (
    Discrete.ESTOP_ACTIVE,
    Discrete.WATCHDOG_TRIPPED,
    Discrete.FAULT,
    Discrete.HOSE_CONNECTED,
    Discrete.OUTLET_OPEN_FB,
)


class StatusPoller:
    def __init__(
        self, bus: ModbusBus, *, clock: Callable[[], float], slow_period_s: float
    ) -> None:
        if not slow_period_s > 0:
            raise ValueError(f"slow_period_s must be positive, got {slow_period_s!r}")
        self._bus = bus
        self._clock = clock
        self._slow_period_s = slow_period_s
        self._telemetry: Telemetry | None = None
        self._telemetry_at_s = float("-inf")
        self._coils: list[bool] | None = None
        self._coils_at_s = float("-inf")
        self._discretes: list[bool] | None = None
        #: OUTLET_OPEN writes so far, and how many had been acknowledged before the
        #: coils held were asked for: while they differ the coils must be read again
        self._outlet_writes = 0
        self._coils_after_writes = -1
        #: counts of table reads, for diagnostics and tests
        self.reads = {"discretes": 0, "coils": 0, "inputs": 0}

    def forget(self) -> None:
        """Read every table afresh next time (after a reset, a lost link, start-up)."""
        self._telemetry = None
        self._coils = None
        self._discretes = None

    def outlet_written(self) -> None:
        """Note an OUTLET_OPEN write (answered or not): the next poll reads the coil back."""
        self._outlet_writes += 1

    async def telemetry(self) -> Telemetry:
        """Read the input registers now (and keep them for the polls that follow)."""
        telemetry, _ = await self._read_inputs()
        return telemetry

    async def _read_inputs(self) -> tuple[Telemetry, float]:
        at_s = self._clock()
        self.reads["inputs"] += 1
        telemetry = decode_telemetry(await self._bus.read_inputs(INPUT_BLOCK))
        self._telemetry, self._telemetry_at_s = telemetry, at_s
        return telemetry, at_s

    async def _read_coils(self) -> tuple[list[bool], float]:
        writes = self._outlet_writes
        at_s = self._clock()
        self.reads["coils"] += 1
        coils = await self._bus.read_coils(COIL_BLOCK)
        self._coils, self._coils_at_s = coils, at_s
        self._coils_after_writes = writes
        return coils, at_s

    async def status(self) -> Status:
        read_at_s = self._clock()
        self.reads["discretes"] += 1
        discretes = await self._bus.read_discretes(DISCRETE_BLOCK)
        last = self._discretes
        coils, coils_at_s = self._coils, self._coils_at_s
        telemetry, telemetry_at_s = self._telemetry, self._telemetry_at_s
        period_s = self._slow_period_s
        inputs_due = (
            telemetry is None
            or discretes[Discrete.FAULT] != (telemetry.fault_bits != 0)
            or read_at_s - telemetry_at_s >= period_s
        )
        coil_age_s = read_at_s - coils_at_s
        coils_due = (
            coils is None
            or last is None
            or self._coils_after_writes != self._outlet_writes
            or any(last[i] != discretes[i] for i in _FORCING_INPUTS)
            or coil_age_s >= COIL_GRACE * period_s
            # due by age alone: not on a poll that reads the input registers too
            or (coil_age_s >= period_s and not inputs_due)
        )
        if coils is None or coils_due:
            coils, coils_at_s = await self._read_coils()
        if telemetry is None or inputs_due:
            telemetry, telemetry_at_s = await self._read_inputs()
        status = build_status(
            read_at_s=read_at_s,
            valve_at_s=coils_at_s,
            telemetry_at_s=telemetry_at_s,
            coils=list(coils),
            discretes=discretes,
            telemetry=telemetry,
        )
        # Kept only now: if a slower read failed, the next poll sees the same change again.
        self._discretes = discretes
        return status
