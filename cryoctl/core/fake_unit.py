"""A fake cryo unit behind the device port, with a timestamped history.

Like gpiozero's ``MockPin``: it keeps every command it was given, stamped with
the clock it was built with, and refuses what the real units refuse (an open
while the e-stop latch, a fault or a missing hose holds the valve shut). Tests
move its inputs (trigger, e-stop button, nozzle, oxygen, skin) and read the
history back to assert sequences and times.

Its physics is deliberately crude: the N2 tip falls at ``TIP_FALL_C_PER_S`` while
cryogen flows and warms at ``TIP_WARM_C_PER_S`` after it stops; the CJ-Air valve
feedback follows the physical valve. ``stuck_open`` keeps the physical valve open
whatever is commanded, ``no_flow`` keeps the tip warm, ``feedback_stuck`` freezes
the feedback, ``fail_reads`` makes the next reads raise DeviceTimeout, ``lag_s``
stamps statuses as older, ``telemetry_lag_s`` only the telemetry group.

Any call can be made to fail on command (:meth:`FakeUnit.fail_next`: a timeout, a
refusal or a dropped link, for the next N calls of that name); ``ignore_closes``
acknowledges the next closes without carrying them out, and ``report_open`` makes
every status show the valve open whatever it is. The CJ-Air kind enforces its
MAX_OPEN_MS (set by ``cap_open``): at the cap it closes and raises ``OPEN_CAP_BIT``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from typing import NamedTuple

from cryoctl.core.port import (
    Capabilities,
    DeviceEvent,
    DeviceKind,
    DeviceSettings,
    EventKind,
    EventSink,
    Expiry,
    Identity,
    Protection,
    Status,
)
from cryoctl.errors import (
    ConfigError,
    ConfigMismatch,
    DeviceRefused,
    DeviceTimeout,
    DeviceUnavailable,
)

__all__ = [
    "CALLS",
    "CJ_AIR_CAPABILITIES",
    "N2_CAPABILITIES",
    "OPEN_CAP_BIT",
    "FakeUnit",
    "Told",
    "VirtualClock",
]

#: The N2 cryodestructor as its ICD (rev C) describes it.
N2_CAPABILITIES = Capabilities(
    kind=DeviceKind.N2,
    expiry=Expiry.LEASE,
    nozzles=("A", "B", "C", "D", "M", "P"),
    has_valve_feedback=False,
    has_skin_sensor=False,
    has_tip_sensor=True,
    has_outlet_sensor=False,
    has_pressure=True,
    has_dewar_level=True,
    has_airflow=False,
    has_cooler=False,
    nozzle_flow_g_s_at_50kpa={"A": 0.80, "B": 0.55, "C": 0.25, "D": 0.14, "M": 1.00, "P": 0.30},
)

#: The CJ-Air cold-air unit as its ICD (rev B) describes it.
CJ_AIR_CAPABILITIES = Capabilities(
    kind=DeviceKind.CJ_AIR,
    expiry=Expiry.COIL,
    nozzles=("S6", "R10", "F20", "C30"),
    has_valve_feedback=True,
    has_skin_sensor=True,
    has_tip_sensor=False,
    has_outlet_sensor=True,
    has_pressure=False,
    has_dewar_level=False,
    has_airflow=True,
    has_cooler=True,
)

#: Names of the calls :meth:`FakeUnit.fail_next` can fail.
CALLS = (
    "connect", "configure", "cap_open", "apply", "heartbeat", "read", "open", "close",
    "reset_faults", "reset_estop",
)
#: How a failing call fails.
_ERRORS: dict[str, Callable[[str], Exception]] = {
    "timeout": lambda what: DeviceTimeout(f"fake unit: no answer to {what}"),
    "refused": lambda what: DeviceRefused(f"fake unit: {what} refused", code="ER"),
    "unavailable": lambda what: DeviceUnavailable(f"fake unit: link down during {what}"),
}
#: The fault bit the CJ-Air kind raises when an open reaches its MAX_OPEN_MS.
OPEN_CAP_BIT = 0x0100

TIP_FALL_C_PER_S = 400.0
TIP_WARM_C_PER_S = 20.0
TIP_COLDEST_C = -190.0
AMBIENT_C = 20.0


@functools.cache
@functools.lru_cache(maxsize=64)
def _bit_names(bits: int) -> frozenset[str]:
    return frozenset(f"BIT{n}" for n in range(16) if bits >> n & 1)


class VirtualClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, dt_s: float) -> float:
        if dt_s < 0:
            raise ValueError("a monotonic clock never goes back")
        self.now_s += dt_s
        return self.now_s


class Told(NamedTuple):
    """One command the unit was given: when, what, and with which value."""

    at_s: float
    what: str
    value: object = None


@dataclass(slots=True)
class _Inputs:
    trigger: bool = False
    estop_button: bool = False
    nozzle: str | None = None
    o2_pct: float = 20.9
    skin_temp_c: float | None = 30.0
    pressure_kpa: float = 50.0
    dewar_level_pct: float = 80.0
    outlet_temp_c: float = -30.0
    cooler_ready: bool = True
    hose_connected: bool = True
    fault_bits: int = 0
    stuck_open: bool = False
    #: The valve opens but no cryogen reaches the tip (empty line, blocked nozzle).
    no_flow: bool = False
    feedback_stuck: bool | None = None
    fail_reads: int = 0
    #: Statuses come out stamped this much earlier (a driver handing out old data).
    lag_s: float = 0.0
    #: Only the telemetry group (O2, temperatures, nozzle, faults) is this much older.
    telemetry_lag_s: float = 0.0
    #: The next this many closes are acknowledged but not carried out.
    ignore_closes: int = 0
    #: Every status shows the valve open (a read-back that says it did not close).
    report_open: bool = False
    #: Statuses repeat the last values (a frozen link): only the host's stamps move.
    frozen: bool = False
    link_down: bool = False
    config_mismatch: bool = False


@dataclass(slots=True)
class _Valve:
    commanded: bool = False
    changed_at_s: float = 0.0
    lease_end_s: float | None = None
    #: When the valve last opened (for the CJ-Air MAX_OPEN_MS cap).
    opened_at_s: float | None = None
    tip_c: float = AMBIENT_C
    tip_at_s: float = 0.0
    physical_open: bool = False


@dataclass
class FakeUnit:
    """A :class:`~cryoctl.core.port.DevicePort` that lives in memory."""

    capabilities: Capabilities
    clock: Callable[[], float]
    lease_ms: int = 300
    inputs: _Inputs = field(default_factory=_Inputs)
    history: list[Told] = field(default_factory=list)
    estop_latched: bool = False
    protection: Protection | None = None
    settings: DeviceSettings = field(default_factory=DeviceSettings)
    #: CJ-Air MAX_OPEN_MS in force (None: no cap set yet).
    max_open_ms: int | None = None
    #: When the last heartbeat was written (the CJ-Air kind echoes it in its status).
    heartbeat_at_s: float = -float("inf")
    _frozen_status: Status | None = None
    #: Calls to fail: name -> [calls left, how].
    failing: dict[str, list[object]] = field(default_factory=dict)
    _valve: _Valve = field(default_factory=_Valve)
    _sinks: list[EventSink] = field(default_factory=list)

    def __post_init__(self) -> None:
        caps = self.capabilities
        self._leased = caps.expiry is Expiry.LEASE
        self._needs_nozzle = caps.kind is DeviceKind.N2

    # -- what tests do to the unit ------------------------------------------

    def press_trigger(self) -> None:
        self._set_trigger(True)

    def release_trigger(self) -> None:
        self._set_trigger(False)

    def press_estop_button(self, *, event: bool = True) -> None:
        """Latch the unit's e-stop; ``event=False``: its event is lost on the wire, and
        only the next status read shows the latch."""
        self.inputs.estop_button = True
        if not self.estop_latched:
            self.estop_latched = True
            self._settle(self.clock())
            if event:
                self._emit(EventKind.ESTOP, True)

    def release_estop_button(self) -> None:
        self.inputs.estop_button = False

    def fit_nozzle(self, code: str | None) -> None:
        self.inputs.nozzle = code
        self._emit(EventKind.NOZZLE, code)

    def set_fault_bits(self, bits: int) -> None:
        self.inputs.fault_bits = bits
        self._settle(self.clock())
        self._emit(EventKind.FAULT, bits)

    def fail_next(self, call: str, times: int = 1, *, error: str = "timeout") -> None:
        """The next ``times`` calls of ``call`` (one of CALLS) fail with ``error``."""
        if call not in CALLS or error not in _ERRORS:
            raise ValueError(f"unknown call {call!r} or error {error!r}")
        self.failing[call] = [times, error]

    def _maybe_fail(self, call: str) -> None:
        entry = self.failing.get(call)
        if call == "read" and self.inputs.fail_reads > 0:
            self.inputs.fail_reads -= 1
            self.history.append(Told(self.clock(), "failed", call))
            raise DeviceTimeout("fake unit: no answer")
        if entry is None:
            return
        left, error = entry
        assert isinstance(left, int) and isinstance(error, str)
        if left <= 1:
            del self.failing[call]
        else:
            entry[0] = left - 1
        self.history.append(Told(self.clock(), "failed", call))
        raise _ERRORS[error](call)

    # -- what the host tells it (synchronous core of the async port) ----------

    def tell_open(self) -> None:
        now = self.clock()
        self.history.append(Told(now, "open"))
        self._maybe_fail("open")
        self._settle(now)
        if self.estop_latched or self.inputs.fault_bits or not self.inputs.hose_connected:
            raise DeviceRefused("interlock: the unit keeps the valve shut", code="ILK")
        if self._needs_nozzle and self.inputs.nozzle is None:
            raise DeviceRefused("interlock: no nozzle fitted", code="ILK")
        self._command(now, True)
        if self._leased:
            self._valve.lease_end_s = now + self.lease_ms / 1000.0

    def tell_close(self) -> None:
        now = self.clock()
        self.history.append(Told(now, "close"))
        self._maybe_fail("close")
        self._settle(now)
        if self.inputs.ignore_closes > 0:
            self.inputs.ignore_closes -= 1
            self.history.append(Told(now, "ignored", "close"))
            return
        self._command(now, False)

    def tell_reset_faults(self) -> None:
        self.history.append(Told(self.clock(), "reset_faults"))
        self._maybe_fail("reset_faults")
        self.inputs.fault_bits = 0

    def tell_reset_estop(self) -> None:
        self.history.append(Told(self.clock(), "reset_estop"))
        self._maybe_fail("reset_estop")
        if not self.inputs.estop_button:
            self.estop_latched = False

    def status_now(self) -> Status:
        now = self.clock()
        self.history.append(Told(now, "read_status"))
        if self.inputs.link_down:
            self.history.append(Told(now, "failed", "read"))
            raise DeviceUnavailable("fake unit: link down")
        self._maybe_fail("read")
        self._settle(now)
        status = self._status(now)
        if not self.inputs.frozen:
            self._frozen_status = status
            return status
        frozen = self._frozen_status or status
        self._frozen_status = frozen
        stamps = (status.read_at_s, status.valve_at_s, status.telemetry_at_s)
        return frozen._replace(read_at_s=stamps[0], valve_at_s=stamps[1], telemetry_at_s=stamps[2])

    # -- the device port ------------------------------------------------------

    async def connect(self) -> Identity:
        self.history.append(Told(self.clock(), "connect"))
        if self.inputs.link_down:
            raise DeviceUnavailable("fake unit: link down")
        self._maybe_fail("connect")
        return Identity("FAKE-" + self.capabilities.kind.value, "0001", "1.0", "fake://")

    async def configure(self, protection: Protection) -> Protection:
        self.history.append(Told(self.clock(), "configure", protection))
        self._maybe_fail("configure")
        self.protection = protection
        self.max_open_ms = protection.max_open_ms
        read_back = protection
        if self.inputs.config_mismatch:
            read_back = Protection(watchdog_ms=protection.watchdog_ms + 1,
                                   lease_ms=protection.lease_ms,
                                   max_open_ms=protection.max_open_ms)
            raise ConfigMismatch(f"wrote {protection}, read back {read_back}")
        if protection.lease_ms is not None:
            self.lease_ms = protection.lease_ms
        self.history.append(Told(self.clock(), "configured", read_back))
        return read_back

    async def cap_open(self, max_open_ms: int) -> int:
        self.history.append(Told(self.clock(), "cap_open", max_open_ms))
        if self.capabilities.expiry is Expiry.LEASE:
            raise ConfigError("fake N2 unit: no open cap; each OPEN carries its lease")
        self._maybe_fail("cap_open")
        if self.inputs.config_mismatch:
            raise ConfigMismatch(f"MAX_OPEN_MS wrote {max_open_ms}, read back {max_open_ms + 1}")
        self.max_open_ms = max_open_ms
        self.history.append(Told(self.clock(), "capped", max_open_ms))
        return max_open_ms

    async def apply(self, settings: DeviceSettings) -> None:
        self.tell_apply(settings)

    def tell_apply(self, settings: DeviceSettings) -> None:
        self.history.append(Told(self.clock(), "apply", settings))
        self._maybe_fail("apply")
        self.settings = DeviceSettings(
            *(new if new is not None else old
              for new, old in zip(astuple(settings), astuple(self.settings), strict=True))
        )
        if settings.pressure_kpa is not None:
            self.inputs.pressure_kpa = settings.pressure_kpa

    async def heartbeat(self) -> None:
        self.history.append(Told(self.clock(), "heartbeat"))
        self._maybe_fail("heartbeat")
        self.heartbeat_at_s = self.clock()

    async def read_status(self) -> Status:
        return self.status_now()

    async def open_valve(self) -> None:
        self.tell_open()

    async def close_valve(self) -> None:
        self.tell_close()

    async def reset_faults(self) -> None:
        self.tell_reset_faults()

    async def reset_estop(self) -> None:
        self.tell_reset_estop()

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def aclose(self) -> None:
        self.tell_close()
        self.history.append(Told(self.clock(), "aclose"))

    # -- reading the history ----------------------------------------------------

    def told(self, what: str) -> list[Told]:
        return [t for t in self.history if t.what == what]

    def open_intervals(self) -> list[tuple[float, float | None]]:
        """(opened_at_s, closed_at_s) of each commanded opening; None while still open."""
        spans: list[tuple[float, float | None]] = []
        start: float | None = None
        for t in self.history:
            if t.what != "valve":
                continue
            if t.value is True and start is None:
                start = t.at_s
            elif t.value is False and start is not None:
                spans.append((start, t.at_s))
                start = None
        if start is not None:
            spans.append((start, None))
        return spans

    @property
    def valve_open(self) -> bool:
        return self._valve.commanded

    # -- inside ---------------------------------------------------------------

    def _set_trigger(self, pressed: bool) -> None:
        if self.inputs.trigger != pressed:
            self.inputs.trigger = pressed
            self._emit(EventKind.TRIGGER, pressed)

    def _emit(self, kind: EventKind, value: bool | int | str | None) -> None:
        event = DeviceEvent(kind, self.clock(), value)
        for sink in list(self._sinks):
            sink(event)

    def _command(self, now: float, open_: bool) -> None:
        if self._valve.commanded != open_:
            self._valve.commanded = open_
            self._valve.changed_at_s = now
            self._valve.opened_at_s = now if open_ else None
            self.history.append(Told(now, "valve", open_))
        if not open_:
            self._valve.lease_end_s = None

    def _settle(self, now: float) -> None:
        """Bring the valve and the tip temperature up to ``now``."""
        v = self._valve
        lease_end = v.lease_end_s
        if v.commanded and lease_end is not None and now >= lease_end:
            self._command(lease_end, False)
            self._emit(EventKind.LEASE_EXPIRED, None)
        cap_ms, opened = self.max_open_ms, v.opened_at_s
        if v.commanded and cap_ms is not None and opened is not None:
            cap_at_s = opened + cap_ms / 1000.0
            if not self._leased and now >= cap_at_s:
                self._command(cap_at_s, False)
                self.inputs.fault_bits |= OPEN_CAP_BIT
        if v.commanded and (self.estop_latched or self.inputs.fault_bits):
            self._command(now, False)
        dt = max(0.0, now - v.tip_at_s)
        if v.physical_open and not self.inputs.no_flow:
            v.tip_c = max(TIP_COLDEST_C, v.tip_c - TIP_FALL_C_PER_S * dt)
        else:
            v.tip_c = min(AMBIENT_C, v.tip_c + TIP_WARM_C_PER_S * dt)
        v.tip_at_s = now
        v.physical_open = v.commanded or self.inputs.stuck_open

    def _status(self, now: float) -> Status:
        i, caps = self.inputs, self.capabilities
        feedback: bool | None = None
        if caps.has_valve_feedback:
            feedback = self._valve.physical_open if i.feedback_stuck is None else i.feedback_stuck
        names = _bit_names(i.fault_bits)
        read_at_s = now - i.lag_s
        return Status(
            read_at_s=read_at_s,
            valve_at_s=read_at_s,
            telemetry_at_s=read_at_s - i.telemetry_lag_s,
            valve_commanded=self._valve.commanded or i.report_open,
            valve_feedback=feedback,
            trigger=i.trigger,
            estop_latched=self.estop_latched,
            nozzle=i.nozzle,
            fault_bits=i.fault_bits,
            faults=names,
            watchdog_tripped=False,
            o2_pct=i.o2_pct,
            outlet_temp_c=i.outlet_temp_c if caps.has_outlet_sensor else None,
            tip_temp_c=self._valve.tip_c if caps.has_tip_sensor else None,
            skin_temp_c=i.skin_temp_c if caps.has_skin_sensor else None,
            pressure_kpa=i.pressure_kpa if caps.has_pressure else None,
            dewar_level_pct=i.dewar_level_pct if caps.has_dewar_level else None,
            airflow_level=self.settings.airflow_level if caps.has_airflow else None,
            cooler_ready=i.cooler_ready if caps.has_cooler else None,
            hose_connected=i.hose_connected if caps.has_cooler else None,
            echo_at_s=None if self._leased else self.heartbeat_at_s,
        )
