"""How the N2 unit behaves inside: valve, lease, watchdog, latches, fault bits, events.

Every method here runs with the unit's lock held; ``simulator.n2.unit`` adds the
surfaces (the wire and the control API) that take the lock.

Decisions where the ICD leaves room (see also ``codec`` and ``protocol``):

- the unit acts on a deadline when it next runs: the valve history's ``t_s`` is the
  clock reading at that moment and ``due_s`` the deadline, so the lag is measurable
  (physics treats the valve as closed from ``due_s``); the protocol servers run
  ``advance`` from a timer set at the exact deadline;
- a "valid command" that feeds the watchdog is one answered ``OK`` or refused ``ILK``
  (the host is alive and speaking correctly); CHK/SYN/RNG/UNK do not feed it;
- OPEN is checked in the order syntax, range, interlock; interlocks are the e-stop
  latch, any latched fault (watchdog included), no nozzle, dewar below 5 %;
- every fault bit latches; RESET clears a bit once its cause has gone: WATCHDOG at
  once (RESET restarts the window), LEVEL_EMPTY at >= 5 %, OVERPRESSURE at <= 180 kPa,
  TIP_SENSOR when the reading is back in -200.0..+60.0 °C, NOZZLE_LOST once a nozzle
  is fitted again, O2_LOW at >= 19.5 %, VALVE_MISMATCH when the valve follows again;
  an injected cause (``set_fault(name, True)``) holds its bit until it is withdrawn;
- injected causes move the readings that belong to them: OVERPRESSURE fails the
  regulator (pressure climbs toward 210 kPa), TIP_SENSOR makes the tip read ``value``
  (default +300.0 °C), VALVE_MISMATCH sticks the valve where it is (STAT and the
  history report the valve's real position);
- the e-stop button closes the valve in hardware and sets the latch; releasing it
  changes nothing on the wire; RESET clears the latch only if the button is released;
- ``EV,FAULT`` follows the command's answer when a command (RESET) changed the bits;
- link fault ``freeze`` freezes the whole STAT answer at the moment it is first asked
  for; ``drop_all`` reads every frame and acts on none (the watchdog starves), and no
  line leaves the unit; ``corrupt`` spoils the checksum of that share of lines sent.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import threading
from collections.abc import Callable
from typing import Any

from simulator.base import LinkFaults, SimClock
from simulator.n2 import faults as fl
from simulator.n2.codec import LineDecoder, encode
from simulator.n2.commands import execute
from simulator.n2.config import N2Config
from simulator.n2.faults import Fault
from simulator.n2.physics import Physics
from simulator.n2.protocol import Command
from simulator.watchdog import log_trip, watchdog_reason

__all__ = ["N2Core", "Outgoing"]

_PHYSICS_STEP_S = 0.1
_BROKEN_TIP_C = 300.0


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """A line the unit sends; ``answer`` tells an answer from an unsolicited event."""

    data: bytes
    answer: bool


class N2Core:
    """The unit's state and rules; not thread-safe on its own (see ``N2Unit``)."""

    kind = "n2"

    def __init__(self, *, clock: SimClock, config: N2Config | None = None) -> None:
        self.config = config or N2Config()
        self.clock = clock
        self.link = LinkFaults()
        self._lock = threading.Lock()
        self._listener: Callable[[], None] | None = None
        self._rng = random.Random(self.config.corrupt_seed)
        self._decoder = LineDecoder()
        self._outbox: list[Outgoing] = []
        now = clock()
        self._t_s = self._act_s = now
        self._phys = Physics(level_pct=self.config.level_pct, pressure_kpa=self.config.press_kpa)
        self._setpoint_kpa = self.config.press_kpa
        self._wdt_ms = self.config.wdt_ms
        self._last_feed_s = now
        self._power_on_s = now
        self._valve_cmd = False
        self._stuck: bool | None = None
        self._lease_due_s: float | None = None
        self._last_open_s: float | None = None
        self._trigger = False
        self._button = False
        self._latch = False
        self._nozzle = self.config.nozzle
        self._bits = fl.NONE
        self._injected: dict[str, float | None] = {}
        self._frozen_stat: str | None = None
        self._history: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=self.config.history_len
        )
        self._fault_log: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=self.config.history_len
        )
        self._counters = dict.fromkeys(
            ("frames_in", "frames_out", "errors", "chk_errors", "dropped", "events", "corrupted"),
            0,
        )

    @property
    def _valve_open(self) -> bool:
        return self._valve_cmd if self._stuck is None else self._stuck

    def _tip_reading_c(self) -> float:
        if "TIP_SENSOR" in self._injected:
            value = self._injected["TIP_SENSOR"]
            return _BROKEN_TIP_C if value is None else value
        return self._phys.tip_c

    def _wdt_due_s(self) -> float | None:
        if Fault.WATCHDOG in self._bits:
            return None
        return self._last_feed_s + self._wdt_ms / 1000.0

    def watchdog_reason(self) -> str | None:
        """Why WATCHDOG is set, in words; None while it is not."""
        if Fault.WATCHDOG not in self._bits:
            return None
        return watchdog_reason(
            window_ms=self._wdt_ms,
            fed_at_s=self._last_feed_s,
            power_on_s=self._power_on_s,
            feed="valid command",
            reset="RESET",
        )

    def _notify(self) -> None:
        listener = self._listener
        if listener is not None and self._outbox:
            listener()

    def _take_locked(self) -> list[Outgoing]:
        out, self._outbox = self._outbox, []
        return out

    def _send(self, body: str, *, answer: bool) -> None:
        if self.link.drop_all:
            self._counters["dropped"] += 1
            return
        corrupt = self.link.corrupt_ratio > 0 and self._rng.random() < self.link.corrupt_ratio
        self._counters["corrupted"] += corrupt
        self._counters["frames_out"] += 1
        self._outbox.append(Outgoing(encode(body, corrupt=corrupt), answer))

    def _answer(self, body: str) -> None:
        if body.startswith("ER,"):
            self._counters["errors"] += 1
        self._send(body, answer=True)

    def _event(self, body: str) -> None:
        self._counters["events"] += 1
        self._send(body, answer=False)

    def _record_if_moved(self, was_open: bool, why: str, due_s: float | None = None) -> None:
        if self._valve_open != was_open:
            entry: dict[str, Any] = {"t_s": self._act_s, "open": self._valve_open, "why": why}
            if due_s is not None:
                entry["due_s"] = due_s
            self._history.append(entry)

    def _set_valve(self, commanded: bool, why: str, due_s: float | None = None) -> None:
        was_open = self._valve_open
        self._valve_cmd = commanded
        self._record_if_moved(was_open, why, due_s)

    def _latch_bits(self, new: Fault, due_s: float | None = None) -> None:
        fresh = new & ~self._bits
        if fresh:
            self._bits |= fresh
            self._lease_due_s = None
            self._set_valve(False, "fault:" + "+".join(fl.names(fresh)), due_s)
            self._fault_changed(due_s)

    def _fault_changed(self, due_s: float | None = None) -> None:
        word = fl.fault_word(self._bits)
        entry: dict[str, Any] = {"t_s": self._act_s, "faults": word}
        if due_s is not None:
            entry["due_s"] = due_s
        self._fault_log.append(entry)
        self._event(f"EV,FAULT,{word}")

    def _live_causes(self) -> Fault:
        causes = fl.NONE
        for name in self._injected:
            causes |= Fault[name]
        if self._phys.level_pct < fl.LEVEL_EMPTY_PCT:
            causes |= Fault.LEVEL_EMPTY
        if self._phys.pressure_kpa > fl.OVERPRESSURE_KPA:
            causes |= Fault.OVERPRESSURE
        if not fl.TIP_MIN_C <= self._tip_reading_c() <= fl.TIP_MAX_C:
            causes |= Fault.TIP_SENSOR
        if self._phys.o2_pct < fl.O2_LOW_PCT:
            causes |= Fault.O2_LOW
        return causes

    def _evaluate(self) -> None:
        self._latch_bits(self._live_causes())

    def _next_due_locked(self) -> float | None:
        dues = [d for d in (self._lease_due_s, self._wdt_due_s()) if d is not None]
        return min(dues) if dues else None

    def _advance_locked(self, now: float) -> None:
        """Physics in steps that end on every deadline; the unit acts at ``now``."""
        self._act_s = max(now, self._t_s)
        while now > self._t_s:
            step_end = min(now, self._t_s + _PHYSICS_STEP_S)
            due = self._next_due_locked()
            if due is not None and self._t_s < due < step_end:
                step_end = due
            self._phys.step(
                step_end - self._t_s,
                valve_open=self._valve_open,
                nozzle=self._nozzle,
                setpoint_kpa=self._setpoint_kpa,
                regulator_failed="OVERPRESSURE" in self._injected,
            )
            self._t_s = step_end
            self._run_deadlines()
            self._evaluate()

    def _run_deadlines(self) -> None:
        while True:
            lease, wdt = self._lease_due_s, self._wdt_due_s()
            if lease is not None and lease <= self._t_s and (wdt is None or lease <= wdt):
                self._lease_due_s = None
                self._set_valve(False, "lease", lease)
                self._event("EV,LEASE")
            elif wdt is not None and wdt <= self._t_s:
                self._latch_bits(Fault.WATCHDOG, wdt)
                log_trip(self.kind, self.watchdog_reason() or "")
            else:
                return

    def _execute(self, cmd: Command, now: float) -> None:
        execute(self, cmd, now)
