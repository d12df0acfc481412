"""The device port: the one interface the core needs from a cryo unit.

Both units (the N2 cryodestructor on its serial line protocol and the CJ-Air
cold-air unit over Modbus) fit it; the core never knows which one is attached
beyond what :class:`Capabilities` says. Drivers live outside the core and are
found by URL scheme through the ``cryoctl.drivers`` entry-point group.

Conventions:
- every method that waits has a deadline; a missing answer raises
  :class:`~cryoctl.errors.DeviceTimeout`, a refused request
  :class:`~cryoctl.errors.DeviceRefused`, a lost link
  :class:`~cryoctl.errors.DeviceUnavailable`;
- :meth:`DevicePort.close_valve` is the one call that must never queue behind
  polling: drivers send it ahead of anything waiting for the bus;
- a :class:`Status` carries the host's monotonic time at which each group of its
  fields was read, so the core judges each field by its own age without reading a
  clock (see :class:`Status`).

Field ages the core tolerates (``cryoctl.core.rules``): the fast group (``read_at_s``:
trigger, e-stop latch, valve feedback, watchdog, cooler, hose) at most
``STALE_PERIODS`` control periods (40 ms at 50 Hz); the telemetry group
(``telemetry_at_s``: O2, temperatures, nozzle, fault bits, pressure, dewar,
airflow) at most ``TELEMETRY_MAX_AGE_S`` (0.3 s). A driver that reads telemetry in
a slower table must read it more often than that: the CJ-Air driver reads it every
200 ms, so with one control period of lateness it is never older than 0.22 s when
judged. The valve read-back (``valve_at_s``) is not judged by age: a close counts
as confirmed only by a read-back taken after the close went out, and the CJ-Air
driver reads the coil on the poll after every OUTLET_OPEN write (between writes
the coil may be up to 0.3 s old, and stays exact: the unit never sets it itself,
and every input with which it could clear it is read on every poll).

What each unit's interface cannot reveal:
- N2: one ``STAT`` line holds every field, so all three times are the same; the
  valve field is the command, not the valve's position (no feedback), and nothing
  in a ``STAT`` proves the unit computed it afresh except the tip temperature,
  which must move while cryogen flows or warms.
- CJ-Air: the tables are read in separate requests, so the coil and telemetry
  groups may be older than the discrete inputs; ``HEARTBEAT_ECHO`` (in the
  telemetry group) proves the unit saw the host's recent heartbeats, and the
  driver dates it (``echo_at_s``: when the echoed heartbeat was written). A status
  that merely repeats the last tables cannot be told apart from a unit whose
  readings froze, except by the echo falling behind: the core judges it stale
  when it is older than ``ECHO_MAX_AGE_S``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from cryoctl.profile.kinds import DeviceKind

__all__ = [
    "Capabilities",
    "DeviceEvent",
    "DeviceKind",
    "DevicePort",
    "DeviceSettings",
    "DriverFactory",
    "EventKind",
    "EventSink",
    "Expiry",
    "Identity",
    "Protection",
    "Status",
]


class Expiry(enum.StrEnum):
    """How the unit closes by itself when the host goes quiet."""

    #: N2: every OPEN carries a lease (<= 500 ms) that the host must renew.
    LEASE = "lease"
    #: CJ-Air: the outlet coil stays set; the heartbeat watchdog and MAX_OPEN_MS close it.
    COIL = "coil"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the attached unit has. The core adapts its checks to this."""

    kind: DeviceKind
    expiry: Expiry
    #: Nozzle codes the unit can report (ICD tables).
    nozzles: tuple[str, ...]
    has_valve_feedback: bool
    has_skin_sensor: bool
    has_tip_sensor: bool
    has_outlet_sensor: bool
    has_pressure: bool
    has_dewar_level: bool
    has_airflow: bool
    has_cooler: bool
    #: LN2 flow at 50 kPa per nozzle code, g/s (N2 only; empty for cold air).
    nozzle_flow_g_s_at_50kpa: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who answered: model, serial number and firmware as the unit reports them."""

    model: str
    serial: str
    firmware: str
    url: str


@dataclass(frozen=True, slots=True)
class Protection:
    """The unit's own protection, as written and as read back.

    ``watchdog_ms``: N2 ``WDT`` / CJ-Air ``WATCHDOG_MS``.
    ``lease_ms``: N2 only, the lease each OPEN asks for (20..500).
    ``max_open_ms``: CJ-Air only, ``MAX_OPEN_MS`` (500..60000).
    """

    watchdog_ms: int
    lease_ms: int | None = None
    max_open_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """Set-points a profile asks of the unit; ``None`` leaves a value alone."""

    pressure_kpa: float | None = None
    airflow_level: int | None = None
    outlet_temp_c: float | None = None
    cooler_on: bool | None = None


class Status(NamedTuple):
    """One snapshot of the unit. Fields a unit does not have are ``None``.

    A named tuple rather than a frozen dataclass: the control loop builds one per
    cycle, and a tuple is built three times faster (1.3 against 4 us here).
    """

    #: Host monotonic seconds at which the fast fields (trigger, e-stop latch, valve
    #: feedback, watchdog, cooler, hose) were read.
    read_at_s: float
    #: When ``valve_commanded`` was read (CJ-Air: the coil table).
    valve_at_s: float
    #: When the telemetry (O2, temperatures, nozzle, fault bits, pressure, dewar,
    #: airflow) was read (CJ-Air: the input registers).
    telemetry_at_s: float
    #: The valve as commanded (N2 STAT valve; CJ-Air OUTLET_OPEN coil read-back).
    valve_commanded: bool
    #: Valve position feedback (CJ-Air OUTLET_OPEN_FB); None where the unit has none.
    valve_feedback: bool | None
    trigger: bool
    estop_latched: bool
    #: Fitted nozzle code, or None when none is fitted.
    nozzle: str | None
    #: Raw fault bits as the unit reports them.
    fault_bits: int
    #: Names of the set fault bits (ICD names, e.g. "WATCHDOG", "O2_LOW").
    faults: frozenset[str]
    watchdog_tripped: bool
    o2_pct: float | None = None
    outlet_temp_c: float | None = None
    tip_temp_c: float | None = None
    skin_temp_c: float | None = None
    pressure_kpa: float | None = None
    dewar_level_pct: float | None = None
    airflow_level: int | None = None
    cooler_ready: bool | None = None
    hose_connected: bool | None = None
    #: CJ-Air HEARTBEAT_ECHO: the last heartbeat value the unit received (None on N2).
    heartbeat_echo: int | None = None
    #: When the host wrote the heartbeat the unit echoes: the unit's telemetry is
    #: known to be live at least as of then (-inf: an echo the host never wrote).
    #: None where the interface has no such proof (N2).
    echo_at_s: float | None = None

    @property
    def faulted(self) -> bool:
        return self.fault_bits != 0


class EventKind(enum.StrEnum):
    TRIGGER = "trigger"
    ESTOP = "estop"
    NOZZLE = "nozzle"
    LEASE_EXPIRED = "lease_expired"
    FAULT = "fault"
    LINK_LOST = "link_lost"


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something the unit said on its own (N2 ``EV`` lines) or the driver noticed."""

    kind: EventKind
    at_s: float
    #: trigger/estop: bool; nozzle: code or None; fault: fault bits; else None.
    value: bool | int | str | None = None


EventSink = Callable[[DeviceEvent], None]


@runtime_checkable
class DevicePort(Protocol):
    """What the core needs from a unit. Drivers and fakes implement this."""

    @property
    def capabilities(self) -> Capabilities: ...

    async def connect(self) -> Identity:
        """Open the link and identify the unit."""
        ...

    async def configure(self, protection: Protection) -> Protection:
        """Write the unit's own protection, read it back, and return what was read.

        Raises ConfigMismatch when the read-back differs from what was written.
        Also feeds the watchdog and clears a watchdog trip left from power-on.
        """
        ...

    async def cap_open(self, max_open_ms: int) -> int:
        """CJ-Air: write MAX_OPEN_MS, read it back and return what was read.

        Raises ConfigMismatch when the read-back differs. A unit whose every open is
        a lease (N2) raises ConfigError: its lease already caps each open.
        """
        ...

    async def apply(self, settings: DeviceSettings) -> None:
        """Write set-points (pressure, airflow level, outlet temperature, cooler)."""
        ...

    async def heartbeat(self) -> None:
        """Tell the unit the host is alive (N2 ``HB``, CJ-Air HEARTBEAT register)."""
        ...

    async def read_status(self) -> Status:
        """Read one status snapshot, stamped with the host's monotonic time."""
        ...

    async def open_valve(self) -> None:
        """Open (N2: an OPEN with the configured lease, renewing it; CJ-Air: the coil)."""
        ...

    async def close_valve(self) -> None:
        """Close now, ahead of anything queued on the link."""
        ...

    async def reset_faults(self) -> None:
        """Clear latched faults whose cause has gone. Never opens the valve."""
        ...

    async def reset_estop(self) -> None:
        """Clear the e-stop latch if the button is released. Never opens the valve."""
        ...

    def subscribe(self, sink: EventSink) -> None:
        """Hand unsolicited events to ``sink`` as they arrive (may never be called)."""
        ...

    async def aclose(self) -> None:
        """Close the valve if the link allows it, then release the link."""
        ...


class DriverFactory(Protocol):
    """What an entry point in ``cryoctl.drivers`` must be: a driver class with ``from_url``.

    ``clock`` returns monotonic seconds; drivers stamp statuses and events with it.
    Raises AddressError for a URL the driver cannot parse.
    """

    def from_url(self, url: str, *, clock: Callable[[], float]) -> DevicePort: ...
