"""What the treatment core asks of the unit, and the set-points a profile asks for."""

from __future__ import annotations

from dataclasses import dataclass

from cryoctl.core.port import DeviceSettings
from cryoctl.profile import LoadedProfile, N2Device

__all__ = ["Commands", "settings_for"]


@dataclass(frozen=True, slots=True)
class Commands:
    """What the unit should be told now."""

    valve_open: bool
    #: Close ahead of anything queued (e-stop, a hazard).
    close_first: bool = False
    #: CJ-Air blower level wanted now (None: leave it).
    airflow_level: int | None = None
    #: Set-points to write before the profile may be used.
    settings: DeviceSettings | None = None
    reset_faults: bool = False
    reset_estop: bool = False
    #: The exact time the open valve must close (the shell wakes then).
    next_deadline_s: float | None = None
    #: The unit's own cap on one opening (CJ-Air MAX_OPEN_MS) wanted now; None where
    #: the unit caps every open by a lease instead.
    open_cap_ms: int | None = None


def settings_for(loaded: LoadedProfile) -> DeviceSettings:
    device = loaded.profile.device
    if isinstance(device, N2Device):
        return DeviceSettings(pressure_kpa=device.pressure_kpa)
    return DeviceSettings(
        airflow_level=device.airflow_level, outlet_temp_c=device.outlet_temp_c, cooler_on=True
    )
