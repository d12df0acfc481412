"""The N2 unit behind its lock: the wire surface and the ``SimUnit`` control surface.

Wire side: ``receive(bytes)`` decodes lines, executes commands and returns every line
the unit sends, answers and events in the order they arose; ``take_output()`` collects
events raised from elsewhere (the control API, timers). Control side: the ``SimUnit``
surface of ``simulator.base``. Time comes from the injected clock; ``advance`` runs
the physics and the deadlines (lease, watchdog) that are due. The rules, and the
decisions taken where the ICD leaves room, are in ``simulator.n2.core``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from simulator.base import LINK_FAULTS, UnsupportedControl
from simulator.n2.codec import BadChecksum, SyntaxFault
from simulator.n2.config import N2Config
from simulator.n2.core import N2Core, Outgoing
from simulator.n2.faults import Fault
from simulator.n2.physics import NOZZLES
from simulator.n2.protocol import COMMANDS, Refusal, parse
from simulator.n2.state import render

__all__ = ["N2Config", "N2Unit", "Outgoing"]

log = logging.getLogger(__name__)


class N2Unit(N2Core):
    """A simulated N2 cryodestructor (thread-safe)."""

    # -- wire side ---------------------------------------------------------------------

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Called (from any thread) when output waits that ``receive`` did not return."""
        self._listener = listener

    def reset_line(self) -> None:
        """Forget a half-received line (a new connection)."""
        with self._lock:
            self._decoder.reset()

    def receive(self, data: bytes) -> list[Outgoing]:
        with self._lock:
            self._advance_locked(self.clock())
            now = self._act_s  # never behind an earlier explicit advance(now_s)
            for item in self._decoder.feed(data):
                self._counters["frames_in"] += 1
                if self.link.drop_all:
                    self._counters["dropped"] += 1
                elif isinstance(item, BadChecksum):
                    self._counters["chk_errors"] += 1
                    name = item.first_field if item.first_field in COMMANDS else "?"
                    self._answer(f"ER,{name},CHK")
                elif isinstance(item, SyntaxFault):
                    log.debug("n2 line refused (%s): %r", item.why, item.raw)
                    self._answer("ER,?,SYN")
                else:
                    result = parse(item.body)
                    if isinstance(result, Refusal):
                        self._answer(result.body())
                    else:
                        self._execute(result, now)
            return self._take_locked()

    def take_output(self) -> list[Outgoing]:
        with self._lock:
            return self._take_locked()

    def next_deadline_s(self) -> float | None:
        """The earliest lease or watchdog deadline, in the unit's clock."""
        with self._lock:
            return self._next_due_locked()

    # -- control side (SimUnit) --------------------------------------------------------

    def advance(self, now_s: float | None = None) -> None:
        with self._lock:
            self._advance_locked(self.clock() if now_s is None else now_s)
        self._notify()

    def set_trigger(self, pressed: bool) -> None:
        with self._lock:
            self._advance_locked(self.clock())
            if pressed != self._trigger:
                self._trigger = pressed
                self._event(f"EV,TRIG,{int(pressed)}")
        self._notify()

    def set_estop(self, pressed: bool) -> None:
        with self._lock:
            self._advance_locked(self.clock())
            self._button = pressed
            if pressed:
                self._lease_due_s = None
                self._set_valve(False, "estop")
                if not self._latch:
                    self._latch = True
                    self._event("EV,ESTOP,1")
        self._notify()

    def set_nozzle(self, code: str | None) -> None:
        code = "-" if code is None else code
        if code not in NOZZLES:
            raise ValueError(f"unknown nozzle code {code!r}; known: {' '.join(NOZZLES)}")
        with self._lock:
            now = self.clock()
            self._advance_locked(now)
            if code != self._nozzle:
                was_open = self._valve_open
                self._nozzle = code
                self._event(f"EV,NOZZLE,{code}")
                if code == "-" and was_open:
                    self._latch_bits(Fault.NOZZLE_LOST)
        self._notify()

    def set_hose(self, connected: bool) -> None:
        raise UnsupportedControl("hose", self.kind)

    def set_skin(self, on_skin: bool) -> None:
        raise UnsupportedControl("skin", self.kind)

    def set_o2(self, pct: float) -> None:
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"pct must be 0..100, got {pct!r}")
        with self._lock:
            self._advance_locked(self.clock())
            self._phys.o2_pct = self._phys.o2_baseline_pct = float(pct)
            self._evaluate()
        self._notify()

    def set_level(self, pct: float) -> None:
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"pct must be 0..100, got {pct!r}")
        with self._lock:
            self._advance_locked(self.clock())
            self._phys.level_pct = float(pct)
            self._evaluate()
        self._notify()

    def set_fault(self, name: str, active: bool, value: float | None = None) -> None:
        if name in LINK_FAULTS:
            with self._lock:
                self.link.set(name, active, value)
            return
        if name not in Fault.__members__:
            known = ", ".join([*Fault.__members__, *LINK_FAULTS])
            raise ValueError(f"unknown fault {name!r}; known: {known}")
        with self._lock:
            self._advance_locked(self.clock())
            if active:
                self._injected[name] = value
                if name == "VALVE_MISMATCH" and self._stuck is None:
                    self._stuck = self._valve_open
            else:
                self._injected.pop(name, None)
                if name == "VALVE_MISMATCH":
                    self._stuck = None
                    self._record_if_moved(not self._valve_cmd, "valve follows again")
            self._evaluate()
        self._notify()

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._advance_locked(self.clock())
            return render(self)
