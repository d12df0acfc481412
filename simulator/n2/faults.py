"""The N2 fault bits, their thresholds, and the STAT/EV rendering of the fault word."""

from __future__ import annotations

import enum

__all__ = [
    "LEVEL_EMPTY_PCT",
    "O2_LOW_PCT",
    "OVERPRESSURE_KPA",
    "TIP_MAX_C",
    "TIP_MIN_C",
    "Fault",
    "fault_word",
    "names",
]

LEVEL_EMPTY_PCT = 5.0
OVERPRESSURE_KPA = 180.0
TIP_MIN_C = -200.0
TIP_MAX_C = 60.0
O2_LOW_PCT = 19.5


class Fault(enum.IntFlag):
    """ICD rev C fault bits."""

    WATCHDOG = 1 << 0
    LEVEL_EMPTY = 1 << 1
    OVERPRESSURE = 1 << 2
    VALVE_MISMATCH = 1 << 3
    TIP_SENSOR = 1 << 4
    NOZZLE_LOST = 1 << 5
    O2_LOW = 1 << 6


NONE = Fault(0)


def fault_word(bits: Fault) -> str:
    """The fault word as the ICD writes it: four upper-case hex digits."""
    return f"{int(bits):04X}"


def names(bits: Fault) -> list[str]:
    return [f.name for f in Fault if f in bits and f.name is not None]
