"""Which CJ-Air tables one status needs, so the poll fits a 19200-baud line.

At 19200 baud 8E1 a bit-table read costs ~8 ms of wire time, the 11 input registers
~20 ms and a register write ~9 ms (request + answer, without gaps). A 50 Hz loop
therefore reads only the discrete inputs every tick (trigger, e-stop latch, valve
feedback, watchdog, fault, hose, cooler ready) and the rest when needed:

- input registers (temperatures, O2, nozzle, fault bits): when older than
  ``slow_period_s``, and at once when the FAULT input disagrees with the bits held;
- coils (the OUTLET_OPEN read-back): when older than ``slow_period_s`` (when both
  slow tables are due by age alone, only the older one is read that tick), on the tick
  after any OUTLET_OPEN write, and at once when an input that makes the unit force
  the outlet closed changes (e-stop, watchdog, fault, hose, valve feedback). The unit
  never sets OUTLET_OPEN by itself, so a coil read as 0 stays exact until the host
  writes 1; a coil read as 1 may turn 0 only together with one of those inputs.

``Status.read_at_s`` is when the discrete inputs were read; ``valve_at_s`` and
``telemetry_at_s`` say when the coils and the input registers in it were read (at
most ``slow_period_s`` plus one poll older); the coil only ever errs towards "open".
"""

from __future__ import annotations

from collections.abc import Callable

from cryoctl.port import Status
from drivers.cjair.bus import ModbusBus
from drivers.cjair.codec import Telemetry, build_status, decode_telemetry
from drivers.cjair.registers import COIL_BLOCK, DISCRETE_BLOCK, INPUT_BLOCK, Coil, Discrete

__all__ = ["StatusPoller"]

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
        self._bus = bus
        self._clock = clock
        self._slow_period_s = slow_period_s
        self._telemetry: Telemetry | None = None
        self._telemetry_at_s = 0.0
        self._coils: list[bool] | None = None
        self._coils_at_s = 0.0
        self._discretes: list[bool] | None = None
        #: counts of table reads, for diagnostics and tests
        self.reads = {"discretes": 0, "coils": 0, "inputs": 0}

    def forget(self) -> None:
        """Read every table afresh next time (after a reset, a lost link, start-up)."""
        self._telemetry = None
        self._coils = None
        self._discretes = None

    def outlet_written(self, *, open_: bool, acknowledged: bool) -> None:
        """Note an OUTLET_OPEN write; the next status reads the coil back."""
        if acknowledged and not open_ and self._coils is not None:
            self._coils[Coil.OUTLET_OPEN] = False  # the unit echoed the 0
        self._coils_at_s = float("-inf")

    async def telemetry(self) -> Telemetry:
        at_s = self._clock()
        self.reads["inputs"] += 1
        telemetry = decode_telemetry(await self._bus.read_inputs(INPUT_BLOCK))
        self._telemetry, self._telemetry_at_s = telemetry, at_s
        return telemetry

    async def status(self) -> Status:
        read_at_s = self._clock()
        self.reads["discretes"] += 1
        discretes = await self._bus.read_discretes(DISCRETE_BLOCK)
        last = self._discretes
        coils, telemetry = self._coils, self._telemetry
        coils_forced = (
            coils is None
            or last is None
            or self._coils_at_s == float("-inf")
            or any(last[i] != discretes[i] for i in _FORCING_INPUTS)
        )
        inputs_forced = telemetry is None or discretes[Discrete.FAULT] != (
            telemetry.fault_bits != 0
        )
        coils_aged = read_at_s - self._coils_at_s >= self._slow_period_s
        inputs_aged = read_at_s - self._telemetry_at_s >= self._slow_period_s
        if coils_aged and inputs_aged and not (coils_forced or inputs_forced):
            # one slow table per tick when only age calls for them: the older one
            coils_aged = self._coils_at_s <= self._telemetry_at_s
            inputs_aged = not coils_aged
        if coils is None or coils_forced or coils_aged:
            self.reads["coils"] += 1
            coils = await self._bus.read_coils(COIL_BLOCK)
            self._coils, self._coils_at_s = coils, read_at_s
        if telemetry is None or inputs_forced or inputs_aged:
            telemetry = await self.telemetry()
        status = build_status(
            read_at_s=read_at_s,
            valve_at_s=self._coils_at_s,
            telemetry_at_s=self._telemetry_at_s,
            coils=list(coils),
            discretes=discretes,
            telemetry=telemetry,
        )
        # Kept only now: if a slower read failed, the next poll sees the same change again.
        self._discretes = discretes
        return status
