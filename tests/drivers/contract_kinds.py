"""What differs between the units under the driver contract, one adapter per kind.

The contract suite (contract.py) is written once against the device port; each
adapter says how to provoke what the port cannot (a fault's cause, a refusal),
which Status fields the unit has, and which protection it takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryoctl.port import DeviceKind, DevicePort, DeviceSettings, Expiry, Protection

ALL_OPTIONAL = frozenset(
    {
        "valve_feedback", "o2_pct", "outlet_temp_c", "tip_temp_c", "skin_temp_c",
        "pressure_kpa", "dewar_level_pct", "airflow_level", "cooler_ready", "hose_connected",
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
    #: seconds after which the unit's own expiry has closed an unattended valve
    expiry_s: float

    @property
    def absent(self) -> frozenset[str]:
        return ALL_OPTIONAL - self.present


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
         "cooler_ready", "hose_connected"}
    ),
    fault_bits={
        "WATCHDOG": 1 << 0, "OPEN_CAP": 1 << 1, "TEMP_SENSOR": 1 << 2, "COOLER": 1 << 3,
        "O2_LOW": 1 << 4, "VALVE_MISMATCH": 1 << 5, "HOSE_LOST": 1 << 6,
    },
    nozzle="F20",
    provoke_refusal=_cjair_refusal,
    refusal_code=3,
    settings=DeviceSettings(airflow_level=4, outlet_temp_c=-40.0, cooler_on=True),
    expiry_s=0.5,  # MAX_OPEN_MS of short_watchdog
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
    expiry_s=0.1,  # lease_ms of short_watchdog
)

#: fixture name -> adapter; the contract runs over each simulated unit and transport
KINDS: dict[str, UnitKind] = {
    "cjair_tcp": CJ_AIR,
    "cjair_rtu": CJ_AIR,
    "n2_tcp": N2,
    "n2_pty": N2,
}
