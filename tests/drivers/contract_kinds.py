"""What differs between the units under the driver contract, one adapter per kind.

The contract suite (contract.py) is written once against the device port; each
adapter says how to provoke what the port cannot (a fault's cause, a refusal),
which Status fields the unit has, and which protection it takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cryoctl.core.port import DeviceKind, DevicePort, DeviceSettings, Expiry, Protection

ALL_OPTIONAL = frozenset(
    {
        "valve_feedback", "o2_pct", "outlet_temp_c", "tip_temp_c", "skin_temp_c",
        "pressure_kpa", "dewar_level_pct", "airflow_level", "cooler_ready", "hose_connected",
        "heartbeat_echo",
    }
)


@dataclass(frozen=True)
class UnitKind:
    """How one kind of unit meets the contract."""

    device_kind: DeviceKind
    expiry: Expiry
    #: protection written at start-up; and one with the shortest watchdog the ICD allows
    protection: Protection
    short_watchdog: Protection
    #: Status fields this unit fills (the rest of ALL_OPTIONAL are None)
    present: frozenset[str]
    #: ICD fault names with their bit, each injectable with ``unit.set_fault(name, True)``
    fault_bits: dict[str, int]
    #: a nozzle code to fit and one of the unit's reported codes
    nozzle: str
    #: makes the unit answer with an exception / error code (raises DeviceRefused)
    provoke_refusal: Callable[[DevicePort, Any], Awaitable[None]]
    #: the code that refusal carries
    refusal_code: int | str
    #: settings the unit accepts
    settings: DeviceSettings
    #: protection whose expiry (lease or MAX_OPEN_MS) is short, with a watchdog that a
    #: loaded machine's heartbeat gaps cannot trip, and when that expiry has passed
    expiry_protection: Protection
    expiry_s: float
    #: how much older than the fast group (``read_at_s``) the telemetry and the valve
    #: read-back of a status may be (0: one answer holds every field)
    telemetry_lag_s: float = 0.0
    valve_lag_s: float = 0.0
    #: whether ``cap_open`` sets a cap of the unit's own (else: ConfigError)
    caps_open: bool = False
    #: the last heartbeat value the simulated unit took, where it echoes one
    heartbeat_taken: Callable[[Any], int] | None = None
    #: faults whose cause only latches while the valve is open (ICD: "... while open")
    needs_open: frozenset[str] = frozenset()
    #: faults that take unit time to latch: name -> (unit seconds, settings that arm it)
    slow_faults: dict[str, tuple[float, DeviceSettings]] = field(default_factory=dict)

    @property
    def present_nozzles(self) -> tuple[str, ...]:
        """The nozzle codes of the unit's ICD table."""
        return tuple(_NOZZLES[self.device_kind])

    @property
    def absent(self) -> frozenset[str]:
        return ALL_OPTIONAL - self.present


_NOZZLES = {DeviceKind.CJ_AIR: ("S6", "R10", "F20", "C30"),
            DeviceKind.N2: ("A", "B", "C", "D", "M", "P")}


async def _cjair_refusal(port: DevicePort, handle: Any) -> None:
    # The driver range-checks everything it writes, so only a raw register write past
    # the ICD's range reaches the unit: WATCHDOG_MS=50 is outside 100..5000 -> 0x03.
    from drivers.cjair.driver import CjAirDriver
    from drivers.cjair.registers import Holding

    assert isinstance(port, CjAirDriver)
    await port.bus.write_register(Holding.WATCHDOG_MS, 50, name="WATCHDOG_MS")


async def _n2_refusal(port: DevicePort, handle: Any) -> None:
    # OPEN with no nozzle fitted is refused by an interlock: ER,OPEN,ILK.
    handle.unit.set_nozzle(None)
    await port.open_valve()


CJ_AIR = UnitKind(
    device_kind=DeviceKind.CJ_AIR,
    expiry=Expiry.COIL,
    protection=Protection(watchdog_ms=1000, max_open_ms=20000),
    short_watchdog=Protection(watchdog_ms=200, max_open_ms=500),
    present=frozenset(
        {"valve_feedback", "o2_pct", "outlet_temp_c", "skin_temp_c", "airflow_level",
         "cooler_ready", "hose_connected", "heartbeat_echo"}
    ),
    fault_bits={
        "WATCHDOG": 1 << 0, "OPEN_CAP": 1 << 1, "TEMP_SENSOR": 1 << 2, "COOLER": 1 << 3,
        "O2_LOW": 1 << 4, "VALVE_MISMATCH": 1 << 5, "HOSE_LOST": 1 << 6,
    },
    nozzle="F20",
    provoke_refusal=_cjair_refusal,
    refusal_code=3,
    settings=DeviceSettings(airflow_level=4, outlet_temp_c=-40.0, cooler_on=True),
    expiry_protection=Protection(watchdog_ms=1000, max_open_ms=500),
    expiry_s=0.5,
    # the driver's default telemetry_period_ms (200), and the coil read's grace (1.5x)
    telemetry_lag_s=0.2,
    valve_lag_s=0.3,
    caps_open=True,
    heartbeat_taken=lambda handle: int(handle.unit.state()["holding"]["HEARTBEAT"]),
    # HOSE_LOST: hose lost while the outlet was open; VALVE_MISMATCH: feedback differs
    # from the commanded state, so the command must change
    needs_open=frozenset({"HOSE_LOST", "VALVE_MISMATCH"}),
    # COOLER: COOLER_ON for 120 s without COOLER_READY
    slow_faults={"COOLER": (120.0, DeviceSettings(cooler_on=True))},
)

N2 = UnitKind(
    device_kind=DeviceKind.N2,
    expiry=Expiry.LEASE,
    protection=Protection(watchdog_ms=1000, lease_ms=200),
    short_watchdog=Protection(watchdog_ms=200, lease_ms=100),
    present=frozenset({"o2_pct", "tip_temp_c", "pressure_kpa", "dewar_level_pct"}),
    fault_bits={
        "WATCHDOG": 1 << 0, "LEVEL_EMPTY": 1 << 1, "OVERPRESSURE": 1 << 2,
        "VALVE_MISMATCH": 1 << 3, "TIP_SENSOR": 1 << 4, "NOZZLE_LOST": 1 << 5, "O2_LOW": 1 << 6,
    },
    nozzle="B",
    provoke_refusal=_n2_refusal,
    refusal_code="ILK",
    settings=DeviceSettings(pressure_kpa=60.0),
    expiry_protection=Protection(watchdog_ms=1000, lease_ms=100),
    expiry_s=0.1,
    # NOZZLE_LOST: nozzle removed while the valve was open
    needs_open=frozenset({"NOZZLE_LOST"}),
)

@dataclass(frozen=True)
class Target:
    """One simulated unit on one transport: its fixture, and its factory for options."""

    fixture: str
    factory: str
    transport: str
    kind: UnitKind
    #: Over a pty the line settings mean nothing (no UART), and this kernel's pty
    #: refuses even parity (tcsetattr: EINVAL; odd and none are accepted). The driver
    #: reports that as DeviceUnavailable; the contract asks the pty for no parity.
    pty_without_parity: bool = False

    def url(self, handle_url: str) -> str:
        if self.pty_without_parity:
            return handle_url.replace("parity=E", "parity=N")
        return handle_url


TARGETS: dict[str, Target] = {
    t.fixture: t
    for t in (
        Target("cjair_tcp", "cjair_factory", "tcp", CJ_AIR),
        Target("cjair_rtu", "cjair_factory", "rtu", CJ_AIR, pty_without_parity=True),
        Target("n2_tcp", "n2_factory", "tcp", N2),
        Target("n2_pty", "n2_factory", "pty", N2),
    )
}
KINDS: dict[str, UnitKind] = {name: t.kind for name, t in TARGETS.items()}
