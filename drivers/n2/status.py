"""An N2 ``STAT`` answer as the port's :class:`~cryoctl.core.port.Status`."""

from __future__ import annotations

from cryoctl.core.port import Status
from cryoctl.core.units import c10_to_c, p10_to_pct
from drivers.n2.icd import WATCHDOG_BIT, fault_names
from drivers.n2.replies import StatReply

__all__ = ["status_from_stat"]


def status_from_stat(stat: StatReply, *, read_at_s: float) -> Status:
    """Map STAT fields to the port; the N2 unit has no valve position feedback."""
    return Status(
        read_at_s=read_at_s,
        valve_at_s=read_at_s,
        telemetry_at_s=read_at_s,
        valve_commanded=stat.valve,
        valve_feedback=None,
        trigger=stat.trigger,
        estop_latched=stat.estop,
        nozzle=stat.nozzle,
        fault_bits=stat.fault_bits,
        faults=fault_names(stat.fault_bits),
        watchdog_tripped=bool(stat.fault_bits & WATCHDOG_BIT),
        o2_pct=p10_to_pct(stat.o2_p10),
        tip_temp_c=c10_to_c(stat.tip_c10),
        pressure_kpa=stat.pressure_kpa,
        dewar_level_pct=stat.level_pct,
    )
