"""The CJ-Air unit's own safety rules: latches, interlock, valve drive and feedback.

Everything here works on plain state at an explicit time ``now_s``; the unit class
adds the lock, the clock and the register and control surfaces around it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from simulator.cjair.physics import FAILED_SENSOR_C, Inputs, Physics
from simulator.cjair.registers import (
    COOLER_READY_WITHIN_S,
    HOLDING_SPECS,
    O2_LOW_BELOW_DPCT,
    READY_BAND_DC,
    TEMP_SENSOR_HIGH_DC,
    TEMP_SENSOR_LOW_DC,
    VALVE_MISMATCH_AFTER_S,
    FaultBit,
    Holding,
    to_signed16,
    to_unsigned16,
)
from simulator.watchdog import log_trip, watchdog_reason

#: O2 the sensor reads while the O2_LOW cause is injected, %.
INJECTED_O2_PCT = 18.0
#: physics integrates in steps no longer than this, s.
MAX_STEP_S = 0.05
#: a margin past "more than 100 ms" so a timer at the deadline sees it passed.
_PAST_S = 0.0005
HISTORY_LEN = 1000


@dataclass
class UnitState:
    now_s: float
    power_on_s: float
    valve_lag_s: float
    holding: dict[Holding, int] = field(
        default_factory=lambda: {h: to_unsigned16(s.default) for h, s in HOLDING_SPECS.items()}
    )
    # coils the host sets
    outlet_req: bool = False
    cooler_on: bool = False
    buzzer: bool = False
    # the physical world
    trigger: bool = False
    estop_pressed: bool = False
    estop_latch: bool = False
    hose: bool = True
    nozzle: str | None = "R10"
    on_skin: bool = True
    injected: set[str] = field(default_factory=set)
    # the unit's own state
    faults: int = 0
    drive_open: bool = False
    drive_since_s: float = 0.0
    fb_open: bool = False
    fb_due: tuple[float, bool] | None = None
    mismatch_since_s: float | None = None
    last_heartbeat_s: float = 0.0
    unready_since_s: float | None = None
    physics: Physics = field(default_factory=Physics)
    valve_history: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY_LEN)
    )
    events: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY_LEN)
    )

    # ---- readings -------------------------------------------------------------------
    def reg(self, which: Holding) -> int:
        value = self.holding[which]
        return to_signed16(value) if HOLDING_SPECS[which].signed else value

    def outlet_temp_dc(self) -> int:
        if "TEMP_SENSOR" in self.injected:
            return round(FAILED_SENSOR_C * 10)
        return round(self.physics.outlet_temp_c * 10)

    def o2_dpct(self) -> int:
        pct = INJECTED_O2_PCT if "O2_LOW" in self.injected else self.physics.o2_pct
        return round(pct * 10)

    def hose_connected(self) -> bool:
        return self.hose and self.nozzle is not None and "HOSE_LOST" not in self.injected

    def cooler_ready(self) -> bool:
        return abs(self.outlet_temp_dc() - self.reg(Holding.TEMP_SETPOINT)) <= READY_BAND_DC

    def temp_sensor_ok(self) -> bool:
        return TEMP_SENSOR_LOW_DC <= self.outlet_temp_dc() <= TEMP_SENSOR_HIGH_DC

    def interlocked(self) -> bool:
        return self.estop_latch or self.faults != 0 or not self.hose_connected()

    def open_ms(self) -> int:
        if not self.drive_open:
            return 0
        return min(65535, int((self.now_s - self.drive_since_s) * 1000))

    def fault_names(self) -> list[str]:
        return [bit.name for bit in FaultBit if self.faults & (1 << bit)]

    # ---- time -----------------------------------------------------------------------
    def advance(self, now_s: float) -> None:
        """Integrate physics up to ``now_s`` and apply the rules after every step.

        A step ends at the next moment a rule may act (watchdog lapse, opening cap,
        valve travel, ...), so the unit acts at that moment of its own time however
        late it is looked at: a cap reached 2 s before this call closed the outlet
        2 s ago, and air stopped flowing then.
        """
        while self.now_s < now_s:
            step_to = min(now_s, self.now_s + MAX_STEP_S)
            due_s = self.next_deadline_s()
            if due_s is not None and self.now_s < due_s < step_to:
                step_to = due_s
            self.physics.step(step_to - self.now_s, self._inputs())
            self.now_s = step_to
            self._move_valve()
            self._track_ready()
            self.evaluate()
        self.evaluate()

    def _inputs(self) -> Inputs:
        return Inputs(
            cooler_on=self.cooler_on,
            cooler_failed="COOLER" in self.injected,
            setpoint_c=self.reg(Holding.TEMP_SETPOINT) / 10,
            flowing=self.fb_open,
            airflow_level=self.reg(Holding.AIRFLOW_LEVEL),
            on_skin=self.on_skin,
        )

    def _move_valve(self) -> None:
        if self.fb_due is None or self.fb_due[0] > self.now_s:
            return
        _, position = self.fb_due
        self.fb_due = None
        if "VALVE_MISMATCH" in self.injected or position == self.fb_open:
            return
        self.fb_open = position
        self.event("OUTLET_OPEN_FB", open=position)

    def _track_ready(self) -> None:
        if self.cooler_on and not self.cooler_ready():
            if self.unready_since_s is None:
                self.unready_since_s = self.now_s
        else:
            self.unready_since_s = None

    def next_deadline_s(self) -> float | None:
        """The next moment a rule may act by itself (watchdog, cap, valve travel, ...)."""
        deadlines: list[float] = []
        if not self.faults & (1 << FaultBit.WATCHDOG):
            deadlines.append(self._watchdog_due_s())
        if self.drive_open and not self.faults & (1 << FaultBit.OPEN_CAP):
            deadlines.append(self._cap_due_s())
        if self.fb_due is not None:
            deadlines.append(self.fb_due[0])
        if self.mismatch_since_s is not None and not self.faults & (1 << FaultBit.VALVE_MISMATCH):
            deadlines.append(self.mismatch_since_s + VALVE_MISMATCH_AFTER_S + _PAST_S)
        if self.unready_since_s is not None and not self.faults & (1 << FaultBit.COOLER):
            deadlines.append(self._cooler_due_s(self.unready_since_s))
        return min(deadlines) if deadlines else None

    # The rules compare ``now`` with these very sums (not ``now - since`` with the
    # span), so a step that ends at a deadline always sees it reached.
    def _watchdog_due_s(self) -> float:
        return self.last_heartbeat_s + self.reg(Holding.WATCHDOG_MS) / 1000

    def _cap_due_s(self) -> float:
        return self.drive_since_s + self.reg(Holding.MAX_OPEN_MS) / 1000

    @staticmethod
    def _cooler_due_s(unready_since_s: float) -> float:
        return unready_since_s + COOLER_READY_WITHIN_S

    # ---- rules ----------------------------------------------------------------------
    def evaluate(self) -> None:
        now = self.now_s
        if now >= self._watchdog_due_s():
            self.latch(FaultBit.WATCHDOG)
        if self.drive_open and now >= self._cap_due_s():
            self.latch(FaultBit.OPEN_CAP)
        if not self.temp_sensor_ok():
            self.latch(FaultBit.TEMP_SENSOR)
        if self.unready_since_s is not None and now >= self._cooler_due_s(self.unready_since_s):
            self.latch(FaultBit.COOLER)
        if self.o2_dpct() < O2_LOW_BELOW_DPCT:
            self.latch(FaultBit.O2_LOW)
        if self.fb_open != self.drive_open:
            if self.mismatch_since_s is None:
                self.mismatch_since_s = now
            elif now - self.mismatch_since_s > VALVE_MISMATCH_AFTER_S:
                self.latch(FaultBit.VALVE_MISMATCH)
        else:
            self.mismatch_since_s = None
        if not self.hose_connected() and (self.drive_open or self.fb_open):
            self.latch(FaultBit.HOSE_LOST)
        self._drive()

    def latch(self, bit: FaultBit) -> None:
        if not self.faults & (1 << bit):
            self.faults |= 1 << bit
            self.event("FAULT", name=bit.name)
            if bit is FaultBit.WATCHDOG:
                log_trip("cj-air", self.watchdog_reason() or "")

    def watchdog_reason(self) -> str | None:
        """Why WATCHDOG is set, in words; None while it is not."""
        if not self.faults & (1 << FaultBit.WATCHDOG):
            return None
        return watchdog_reason(
            window_ms=self.reg(Holding.WATCHDOG_MS),
            fed_at_s=self.last_heartbeat_s,
            power_on_s=self.power_on_s,
            feed="HEARTBEAT write",
            reset="FAULT_RESET",
        )

    def _drive(self) -> None:
        if self.interlocked():
            self.outlet_req = False
        want = self.outlet_req
        if want == self.drive_open:
            return
        self.drive_open = want
        self.drive_since_s = self.now_s
        self.valve_history.append({"t_s": self.now_s, "open": want, "why": self._why(want)})
        self.fb_due = (self.now_s + self.valve_lag_s, want)
        if self.fb_open != want and self.mismatch_since_s is None:
            self.mismatch_since_s = self.now_s
        self._move_valve()  # a zero lag moves at once

    def _why(self, opening: bool) -> str:
        if opening:
            return "host"
        if self.estop_latch:
            return "estop"
        if self.faults:
            return "fault:" + ",".join(self.fault_names())
        if not self.hose_connected():
            return "hose"
        return "host"

    def fault_reset(self) -> None:
        """FAULT_RESET: clear latches whose cause has gone; restart the watchdog window."""
        gone = {
            FaultBit.WATCHDOG: True,
            FaultBit.OPEN_CAP: not self.drive_open,
            FaultBit.TEMP_SENSOR: self.temp_sensor_ok(),
            FaultBit.COOLER: not (self.cooler_on and not self.cooler_ready()),
            FaultBit.O2_LOW: self.o2_dpct() >= O2_LOW_BELOW_DPCT,
            FaultBit.VALVE_MISMATCH: self.fb_open == self.drive_open,
            FaultBit.HOSE_LOST: self.hose_connected(),
        }
        cleared = [bit.name for bit, ok in gone.items() if ok and self.faults & (1 << bit)]
        for bit, ok in gone.items():
            if ok:
                self.faults &= ~(1 << bit)
        self.last_heartbeat_s = self.now_s
        self.event("FAULT_RESET", cleared=cleared, kept=self.fault_names())
        self.evaluate()

    def event(self, what: str, /, **details: Any) -> None:
        self.events.append({"t_s": self.now_s, "event": what, **details})
