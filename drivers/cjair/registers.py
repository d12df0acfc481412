"""The CJ-Air register map (ICD rev B) as data: tables, addresses, ranges and codes.

Addresses are zero-based PDU addresses. Each table is read whole in one request,
so the block sizes below are the number of entries the ICD defines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COIL_BLOCK",
    "DISCRETE_BLOCK",
    "FAULT_BIT_NAMES",
    "HOLDING_BLOCK",
    "INPUT_BLOCK",
    "MODBUS_EXCEPTIONS",
    "NOZZLE_CODES",
    "SKIN_NO_READING_C10",
    "Coil",
    "Discrete",
    "Holding",
    "InputReg",
    "Range",
]


class Coil(enum.IntEnum):
    """Coils: FC01 read, FC05/FC15 write."""

    OUTLET_OPEN = 0
    COOLER_ON = 1
    FAULT_RESET = 2
    ESTOP_RESET = 3
    BUZZER = 4


class Discrete(enum.IntEnum):
    """Discrete inputs: FC02."""

    ESTOP_ACTIVE = 0
    TRIGGER = 1
    HOSE_CONNECTED = 2
    OUTLET_OPEN_FB = 3
    WATCHDOG_TRIPPED = 4
    COOLER_READY = 5
    FAULT = 6


class InputReg(enum.IntEnum):
    """Input registers: FC04."""

    FW_VERSION = 0
    FAULT_BITS = 1
    OUTLET_TEMP = 2
    SKIN_TEMP = 3
    AIRFLOW_ACTUAL = 4
    NOZZLE_ID = 5
    O2_PCT = 6
    HEARTBEAT_ECHO = 7
    OUTLET_OPEN_MS = 8
    UPTIME_S_HIGH = 9
    UPTIME_S_LOW = 10


class Holding(enum.IntEnum):
    """Holding registers: FC03 read, FC06/FC16 write."""

    AIRFLOW_LEVEL = 0
    TEMP_SETPOINT = 1
    HEARTBEAT = 2
    WATCHDOG_MS = 3
    MAX_OPEN_MS = 4


#: Entries per table; each table is read in one request from address 0.
COIL_BLOCK: Final = len(Coil)
DISCRETE_BLOCK: Final = len(Discrete)
INPUT_BLOCK: Final = len(InputReg)
HOLDING_BLOCK: Final = len(Holding)


@dataclass(frozen=True, slots=True)
class Range:
    """An inclusive range of register values, checked before anything is written."""

    name: str
    low: int
    high: int

    def check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}={value} is outside {self.low}..{self.high}")
        return value


AIRFLOW_LEVEL_RANGE: Final = Range("AIRFLOW_LEVEL", 1, 9)
TEMP_SETPOINT_C10_RANGE: Final = Range("TEMP_SETPOINT", -600, -200)
WATCHDOG_MS_RANGE: Final = Range("WATCHDOG_MS", 100, 5000)
MAX_OPEN_MS_RANGE: Final = Range("MAX_OPEN_MS", 500, 60000)

#: ICD: VALVE_MISMATCH once OUTLET_OPEN_FB has differed from the command for more than
#: this; until then a feedback that trails the command is the valve travelling.
VALVE_TRAVEL_MS: Final = 100

#: FAULT_BITS, by bit number.
FAULT_BIT_NAMES: Final = (
    "WATCHDOG",
    "OPEN_CAP",
    "TEMP_SENSOR",
    "COOLER",
    "O2_LOW",
    "VALVE_MISMATCH",
    "HOSE_LOST",
)

#: NOZZLE_ID values; 0 means no nozzle.
NOZZLE_NONE: Final = 0
NOZZLE_CODES: Final = {1: "S6", 2: "R10", 3: "F20", 4: "C30"}

#: SKIN_TEMP when the sensor is not on skin.
SKIN_NO_READING_C10: Final = -32768

#: AIRFLOW_ACTUAL is the blower level times this.
AIRFLOW_ACTUAL_SCALE: Final = 10

#: HEARTBEAT values cycle through 1..HEARTBEAT_MAX so each write differs from the last.
HEARTBEAT_MAX: Final = 0xFFFF

#: Modbus exception codes the unit answers with (ICD: 0x02 unknown address, 0x03 bad value).
MODBUS_EXCEPTIONS: Final = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
}

MODEL: Final = "CJ-Air"
