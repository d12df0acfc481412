"""The CJ-Air register map as data (ICD rev B), zero-based PDU addresses."""

from __future__ import annotations

import enum
from dataclasses import dataclass

FW_MAJOR = 1
FW_MINOR = 2


class Coil(enum.IntEnum):
    OUTLET_OPEN = 0
    COOLER_ON = 1
    FAULT_RESET = 2
    ESTOP_RESET = 3
    BUZZER = 4


class Discrete(enum.IntEnum):
    ESTOP_ACTIVE = 0
    TRIGGER = 1
    HOSE_CONNECTED = 2
    OUTLET_OPEN_FB = 3
    WATCHDOG_TRIPPED = 4
    COOLER_READY = 5
    FAULT = 6


class Input(enum.IntEnum):
    FW_VERSION = 0
    FAULT_BITS = 1
    OUTLET_TEMP = 2
    SKIN_TEMP = 3
    AIRFLOW_ACTUAL = 4
    NOZZLE_ID = 5
    O2_PCT = 6
    HEARTBEAT_ECHO = 7
    OUTLET_OPEN_MS = 8
    UPTIME_S_HI = 9
    UPTIME_S_LO = 10


class Holding(enum.IntEnum):
    AIRFLOW_LEVEL = 0
    TEMP_SETPOINT = 1
    HEARTBEAT = 2
    WATCHDOG_MS = 3
    MAX_OPEN_MS = 4


class FaultBit(enum.IntEnum):
    WATCHDOG = 0
    OPEN_CAP = 1
    TEMP_SENSOR = 2
    COOLER = 3
    O2_LOW = 4
    VALVE_MISMATCH = 5
    HOSE_LOST = 6


@dataclass(frozen=True)
class HoldingSpec:
    """Accepted range (inclusive, as signed values where the register is signed) and default."""

    low: int
    high: int
    default: int
    signed: bool = False


HOLDING_SPECS: dict[Holding, HoldingSpec] = {
    Holding.AIRFLOW_LEVEL: HoldingSpec(1, 9, 3),
    Holding.TEMP_SETPOINT: HoldingSpec(-600, -200, -300, signed=True),
    Holding.HEARTBEAT: HoldingSpec(0, 0xFFFF, 0),
    Holding.WATCHDOG_MS: HoldingSpec(100, 5000, 1000),
    Holding.MAX_OPEN_MS: HoldingSpec(500, 60000, 20000),
}

#: NOZZLE_ID codes.
NOZZLE_IDS: dict[str, int] = {"S6": 1, "R10": 2, "F20": 3, "C30": 4}

#: SKIN_TEMP when the sensor is not on skin.
NO_READING = -32768

#: temperature sensor plausible range, 0.1 °C.
TEMP_SENSOR_LOW_DC = -1000
TEMP_SENSOR_HIGH_DC = 600
#: COOLER_READY band, 0.1 °C.
READY_BAND_DC = 30
#: O2_LOW threshold, 0.1 %.
O2_LOW_BELOW_DPCT = 195
#: the cooler's own deadline to become ready.
COOLER_READY_WITHIN_S = 120.0
#: VALVE_MISMATCH after feedback differs from the command for longer than this.
VALVE_MISMATCH_AFTER_S = 0.100


def to_signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def to_unsigned16(value: int) -> int:
    return value & 0xFFFF
