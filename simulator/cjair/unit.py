"""The CJ-Air unit: registers, the physical world and its control surface (thread-safe)."""

from __future__ import annotations

import collections
import threading
from typing import Any

from simulator.base import LINK_FAULTS, LinkFaults, RealClock, SimClock, UnsupportedControl
from simulator.cjair.registers import (
    FW_MAJOR,
    FW_MINOR,
    HOLDING_SPECS,
    NO_READING,
    NOZZLE_IDS,
    Coil,
    Discrete,
    FaultBit,
    Holding,
    to_signed16,
    to_unsigned16,
)
from simulator.cjair.rules import UnitState

#: fault names ``set_fault`` accepts besides the link faults: the ICD's fault bits, whose
#: *cause* is injected (the unit's own rule then latches the bit), and the valve's lag.
UNIT_FAULTS = (*(bit.name for bit in FaultBit), "valve_lag")
#: Host polls remembered for ``GET /polls`` (about 80 s at 50 Hz).
POLL_LOG_LEN = 4096
_COUNTERS = ("frames_in", "frames_out", "errors", "crc_errors", "dropped", "foreign", "heartbeats")


class CjAirUnit:
    """A simulated CJ-Air unit. Every public method takes the lock and is safe from any thread."""

    kind = "cj-air"

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        device_id: int = 1,
        valve_lag_ms: float = 30.0,
        nozzle: str | None = "R10",
        watchdog_ms: int = 1000,
        max_open_ms: int = 20000,
    ) -> None:
        """``watchdog_ms`` and ``max_open_ms`` are the power-on values (the ICD's by default)."""
        if not 1 <= device_id <= 247:
            raise ValueError(f"device_id must be 1..247, got {device_id}")
        for which, value in (
            (Holding.WATCHDOG_MS, watchdog_ms),
            (Holding.MAX_OPEN_MS, max_open_ms),
        ):
            if not self.holding_ok(which, value):
                raise ValueError(f"{which.name.lower()} {value} is outside the ICD range")
        self.clock: SimClock = clock if clock is not None else RealClock()
        self.device_id = device_id
        self.link = LinkFaults()
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._lock = threading.RLock()
        now_s = self.clock()
        self._s = UnitState(now_s=now_s, power_on_s=now_s, valve_lag_s=valve_lag_ms / 1000)
        self._s.last_heartbeat_s = now_s
        self._s.nozzle = _nozzle(nozzle)
        self._s.holding[Holding.WATCHDOG_MS] = watchdog_ms
        self._s.holding[Holding.MAX_OPEN_MS] = max_open_ms
        self._frozen: tuple[list[bool], list[int]] | None = None
        #: When the host read the discrete inputs (its trigger/e-stop poll), unit clock.
        self._polls_s: collections.deque[float] = collections.deque(maxlen=POLL_LOG_LEN)

    # ---- time -----------------------------------------------------------------------
    def advance(self, now_s: float | None = None) -> None:
        with self._lock:
            self._s.advance(self.clock() if now_s is None else now_s)

    def next_deadline_s(self) -> float | None:
        with self._lock:
            return self._s.next_deadline_s()

    def atomic(self) -> threading.RLock:
        """The unit's (re-entrant) lock, for a request that touches several registers."""
        return self._lock

    def count(self, counter: str, n: int = 1) -> None:
        with self._lock:
            self.counters[counter] += n

    # ---- registers (the protocol server's side) --------------------------------------
    def read_coils(self) -> list[bool]:
        with self._lock:
            s = self._s
            return [s.outlet_req, s.cooler_on, False, False, s.buzzer]

    def read_holding(self) -> list[int]:
        with self._lock:
            return [self._s.holding[h] for h in Holding]

    def read_discretes(self) -> list[bool]:
        with self._lock:
            self._polls_s.append(self._s.now_s)
            return self._frozen[0] if self._frozen else self._discretes()

    def read_inputs(self) -> list[int]:
        with self._lock:
            return self._frozen[1] if self._frozen else self._inputs()

    def _discretes(self) -> list[bool]:
        s = self._s
        return [
            s.estop_latch,
            s.trigger,
            s.hose_connected(),
            s.fb_open,
            bool(s.faults & (1 << FaultBit.WATCHDOG)),
            s.cooler_ready(),
            s.faults != 0,
        ]

    def _inputs(self) -> list[int]:
        s = self._s
        skin = round(s.physics.skin_temp_c * 10) if s.on_skin else NO_READING
        uptime_s = int(s.now_s - s.power_on_s) & 0xFFFFFFFF
        return [
            FW_MAJOR * 256 + FW_MINOR,
            s.faults,
            to_unsigned16(s.outlet_temp_dc()),
            to_unsigned16(skin),
            s.reg(Holding.AIRFLOW_LEVEL) * 10 if s.fb_open else 0,
            NOZZLE_IDS.get(s.nozzle or "", 0),
            s.o2_dpct(),
            s.holding[Holding.HEARTBEAT],
            s.open_ms(),
            uptime_s >> 16,
            uptime_s & 0xFFFF,
        ]

    @staticmethod
    def holding_ok(address: int, raw: int) -> bool:
        """Whether ``raw`` (a 16-bit register value) is inside the ICD range of ``address``."""
        spec = HOLDING_SPECS[Holding(address)]
        value = to_signed16(raw) if spec.signed else raw
        return spec.low <= value <= spec.high

    def write_holding(self, address: int, raw: int) -> None:
        """Store a value already checked with ``holding_ok``."""
        with self._lock:
            s, which = self._s, Holding(address)
            if which is Holding.HEARTBEAT and raw != s.holding[which]:
                s.last_heartbeat_s = s.now_s
                self.counters["heartbeats"] += 1
            s.holding[which] = raw
            s.evaluate()

    def write_coil(self, address: int, on: bool) -> None:
        with self._lock:
            s, which = self._s, Coil(address)
            if which is Coil.OUTLET_OPEN:
                s.outlet_req = on
            elif which is Coil.COOLER_ON:
                s.cooler_on = on
                s.unready_since_s = s.now_s if on and not s.cooler_ready() else None
            elif which is Coil.BUZZER:
                s.buzzer = on
            elif which is Coil.FAULT_RESET and on:
                s.fault_reset()
            elif which is Coil.ESTOP_RESET and on and not s.estop_pressed:
                s.estop_latch = False
                s.event("ESTOP_RESET")
            s.evaluate()

    # ---- the physical world ---------------------------------------------------------
    def _world(self, name: str, value: Any) -> None:
        s = self._s
        s.advance(self.clock())
        setattr(s, name, value)
        s.event("WORLD", name=name, value=value)
        s.evaluate()

    def set_trigger(self, pressed: bool) -> None:
        with self._lock:
            self._world("trigger", bool(pressed))

    def set_estop(self, pressed: bool) -> None:
        with self._lock:
            if pressed:
                self._s.estop_latch = True
            self._world("estop_pressed", bool(pressed))

    def set_nozzle(self, code: str | None) -> None:
        with self._lock:
            self._world("nozzle", _nozzle(code))

    def set_hose(self, connected: bool) -> None:
        with self._lock:
            self._world("hose", bool(connected))

    def set_skin(self, on_skin: bool) -> None:
        with self._lock:
            self._world("on_skin", bool(on_skin))

    def set_o2(self, pct: float) -> None:
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"pct must be 0..100, got {pct!r}")
        with self._lock:
            self._s.advance(self.clock())
            self._s.physics.o2_pct = float(pct)
            self._s.event("WORLD", name="o2_pct", value=float(pct))
            self._s.evaluate()

    def set_level(self, pct: float) -> None:
        raise UnsupportedControl("level", self.kind)

    def set_fault(self, name: str, active: bool, value: float | None = None) -> None:
        with self._lock:
            if name in LINK_FAULTS:
                self.link.set(name, active, value)
                self._frozen = (self._discretes(), self._inputs()) if self.link.freeze else None
                return
            if name not in UNIT_FAULTS:
                known = ", ".join((*UNIT_FAULTS, *LINK_FAULTS))
                raise ValueError(f"unknown fault {name!r}; known: {known}")
            s = self._s
            s.advance(self.clock())
            if name == "valve_lag":
                lag_ms = 30.0 if not active or value is None else float(value)
                if not 0.0 <= lag_ms <= 10_000.0:
                    raise ValueError(f"valve_lag: value must be 0..10000 ms, got {value!r}")
                s.valve_lag_s = lag_ms / 1000
            elif name in ("WATCHDOG", "OPEN_CAP"):
                if active:  # a lapse or a cap reached now: the latch is the whole effect
                    s.latch(FaultBit[name])
            elif active:
                s.injected.add(name)
            else:
                s.injected.discard(name)
                if name == "VALVE_MISMATCH":
                    s.fb_due = (s.now_s + s.valve_lag_s, s.drive_open)
            s.event("INJECT", name=name, active=active, value=value)
            s.evaluate()

    # ---- state ----------------------------------------------------------------------
    def poll_times_s(self) -> list[float]:
        """The unit's clock at each of the host's latest discrete-input reads (oldest first)."""
        with self._lock:
            return list(self._polls_s)

    def state(self) -> dict[str, Any]:
        with self._lock:
            s = self._s
            return {
                "kind": self.kind,
                "device_id": self.device_id,
                "t_s": s.now_s,
                "uptime_s": s.now_s - s.power_on_s,
                "coils": dict(zip([c.name for c in Coil], self.read_coils(), strict=True)),
                "discretes": dict(zip([d.name for d in Discrete], self._discretes(), strict=True)),
                "inputs": dict(zip(_INPUT_NAMES, self._inputs(), strict=True)),
                "holding": {h.name: s.reg(h) for h in Holding},
                "faults": s.fault_names(),
                "injected": sorted(s.injected),
                "outlet_temp_c": s.physics.outlet_temp_c,
                "skin_temp_c": s.physics.skin_temp_c if s.on_skin else None,
                "o2_pct": s.o2_dpct() / 10,
                "airflow_level": s.reg(Holding.AIRFLOW_LEVEL),
                "valve_open": s.fb_open,
                "valve_drive_open": s.drive_open,
                "valve_lag_ms": s.valve_lag_s * 1000,
                "last_heartbeat_s": s.last_heartbeat_s,
                "watchdog_reason": s.watchdog_reason(),
                "trigger": s.trigger,
                "estop_pressed": s.estop_pressed,
                "estop_latched": s.estop_latch,
                "hose": s.hose,
                "nozzle": s.nozzle,
                "on_skin": s.on_skin,
                "valve_history": list(s.valve_history),
                "events": list(s.events),
                "counters": {**self.counters, "events": len(s.events)},
                "link": self.link.as_dict(),
            }


_INPUT_NAMES = [
    "FW_VERSION",
    "FAULT_BITS",
    "OUTLET_TEMP",
    "SKIN_TEMP",
    "AIRFLOW_ACTUAL",
    "NOZZLE_ID",
    "O2_PCT",
    "HEARTBEAT_ECHO",
    "OUTLET_OPEN_MS",
    "UPTIME_S_HI",
    "UPTIME_S_LO",
]


def _nozzle(code: str | None) -> str | None:
    if code is None or code == "":
        return None
    if code not in NOZZLE_IDS:
        raise ValueError(f"unknown nozzle {code!r}; known: {', '.join(NOZZLE_IDS)} or null")
    return code
