"""What alarms exist: codes, priorities, categories, latching and the panel text.

Fixed at build time; no profile or configuration can change a priority or turn
latching off.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryoctl.core.units import O2_FAULT_PCT, O2_LOW_PCT

__all__ = ["CATALOGUE", "AlarmCode", "AlarmSpec", "Category", "Priority"]


class Priority(enum.IntEnum):
    """Alarm priority (IEC 60601-1-8); a larger value is more urgent."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Category(enum.StrEnum):
    """Technical: the device is in trouble. Physiological: the patient or the room."""

    TECHNICAL = "technical"
    PHYSIOLOGICAL = "physiological"


class AlarmCode(enum.StrEnum):
    ESTOP = "estop"
    UNIT_FAULT = "unit_fault"
    COMM_LOST = "comm_lost"
    STALE_DATA = "stale_data"
    O2_LOW = "o2_low"
    O2_FAULT = "o2_fault"
    SKIN_WARN = "skin_warn"
    SKIN_STOP = "skin_stop"
    SKIN_NO_READING = "skin_no_reading"
    NO_FLOW = "no_flow"
    VALVE_STUCK_OPEN = "valve_stuck_open"
    VALVE_MISMATCH = "valve_mismatch"
    DWELL_CUTOFF = "dwell_cutoff"
    ZONE_CAP = "zone_cap"
    SESSION_TIME_CAP = "session_time_cap"
    CRYOGEN_CAP = "cryogen_cap"
    NOZZLE_MISMATCH = "nozzle_mismatch"
    SUPERVISOR_CLOSE = "supervisor_close"
    CONFIG_MISMATCH = "config_mismatch"
    CLOSE_FAILED = "close_failed"
    VALVE_OPEN_UNCOMMANDED = "valve_open_uncommanded"
    WRITE_FAILED = "write_failed"
    LOOP_LATE = "loop_late"
    READINGS_FROZEN = "readings_frozen"
    RECORDS_WRITE_FAILED = "records_write_failed"


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """What one alarm is."""

    code: AlarmCode
    priority: Priority
    category: Category
    #: Stays visible after its cause has gone, until acknowledged.
    latching: bool
    #: Staff-readable text for the panel.
    message: str


_H, _M, _L = Priority.HIGH, Priority.MEDIUM, Priority.LOW
_T, _P = Category.TECHNICAL, Category.PHYSIOLOGICAL
_LATCH, _FOLLOW = True, False

# code, priority, category, latching, message
_TABLE: tuple[tuple[AlarmCode, Priority, Category, bool, str], ...] = (
    (AlarmCode.ESTOP, _H, _T, _LATCH, "Emergency stop: cold flow cut"),
    (AlarmCode.UNIT_FAULT, _H, _T, _LATCH, "Cryo unit reports a fault"),
    (AlarmCode.COMM_LOST, _H, _T, _LATCH, "Communication with the cryo unit lost"),
    (AlarmCode.STALE_DATA, _M, _T, _FOLLOW, "Cryo unit data out of date"),
    (AlarmCode.O2_LOW, _H, _P, _LATCH, f"Room oxygen below {O2_LOW_PCT:.1f} %"),
    (AlarmCode.O2_FAULT, _H, _P, _LATCH, f"Room oxygen below {O2_FAULT_PCT:.1f} % or no reading"),
    (AlarmCode.SKIN_WARN, _M, _P, _FOLLOW, "Skin temperature near its lower limit"),
    (AlarmCode.SKIN_STOP, _H, _P, _LATCH, "Skin temperature at its lower limit: spray stopped"),
    (AlarmCode.SKIN_NO_READING, _M, _T, _FOLLOW, "No skin temperature reading"),
    (AlarmCode.NO_FLOW, _H, _T, _LATCH, "Valve open but no cryogen flow"),
    (AlarmCode.VALVE_STUCK_OPEN, _H, _T, _LATCH, "Valve did not close when commanded"),
    (AlarmCode.VALVE_MISMATCH, _M, _T, _FOLLOW, "Valve position differs from command"),
    (AlarmCode.DWELL_CUTOFF, _L, _T, _FOLLOW, "Spray stopped: dwell limit for this zone"),
    (AlarmCode.ZONE_CAP, _L, _T, _FOLLOW, "Zone treatment time used up"),
    (AlarmCode.SESSION_TIME_CAP, _L, _T, _FOLLOW, "Session time limit reached"),
    (AlarmCode.CRYOGEN_CAP, _L, _T, _FOLLOW, "Session cryogen budget used up"),
    (AlarmCode.NOZZLE_MISMATCH, _M, _T, _FOLLOW, "Fitted nozzle does not match the profile"),
    (AlarmCode.SUPERVISOR_CLOSE, _H, _T, _LATCH, "Safety supervisor closed the valve"),
    (AlarmCode.CONFIG_MISMATCH, _M, _T, _FOLLOW, "Unit protection settings did not read back"),
    (AlarmCode.CLOSE_FAILED, _H, _T, _LATCH, "A close did not reach the cryo unit: sending again"),
    (AlarmCode.VALVE_OPEN_UNCOMMANDED, _H, _T, _LATCH,
     "Cryo unit reports the valve open without a command: closing"),
    (AlarmCode.WRITE_FAILED, _M, _T, _FOLLOW, "A command to the cryo unit failed"),
    (AlarmCode.LOOP_LATE, _M, _T, _FOLLOW,
     "Control loop late: heartbeats held back, the unit closes by itself"),
    (AlarmCode.READINGS_FROZEN, _H, _T, _LATCH,
     "Cryo unit readings stopped changing: link or sensor frozen, spray stopped"),
    (AlarmCode.RECORDS_WRITE_FAILED, _M, _T, _LATCH,
     "Session records cannot be written: no new session can start"),
)

#: Every alarm cryoctl can raise, by code (read-only).
CATALOGUE: Mapping[AlarmCode, AlarmSpec] = MappingProxyType(
    {row[0]: AlarmSpec(*row) for row in _TABLE}
)
