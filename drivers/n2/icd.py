"""The N2 line protocol's numbers and names, as data (ICD rev C, hardware/n2-serial.md).

Nothing here does I/O or parsing; the codec and the driver read these tables.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Longest line the unit sends or accepts, ``$`` to ``\n`` inclusive.
MAX_LINE_BYTES: Final = 96
#: The longest the unit takes to answer a command.
ANSWER_MAX_MS: Final = 20
BAUD: Final = 115200

WDT_MIN_MS: Final = 100
WDT_MAX_MS: Final = 5000
WDT_DEFAULT_MS: Final = 1000
PRESS_MIN_KPA: Final = 20
PRESS_MAX_KPA: Final = 150
PRESS_DEFAULT_KPA: Final = 50
LEASE_MIN_MS: Final = 20
LEASE_MAX_MS: Final = 500

#: Commands the host sends.
CMD_ID: Final = "ID"
CMD_HB: Final = "HB"
CMD_WDT: Final = "WDT"
CMD_PRESS: Final = "PRESS"
CMD_OPEN: Final = "OPEN"
CMD_CLOSE: Final = "CLOSE"
CMD_STAT: Final = "STAT"
CMD_RESET: Final = "RESET"
COMMANDS: Final = frozenset(
    {CMD_ID, CMD_HB, CMD_WDT, CMD_PRESS, CMD_OPEN, CMD_CLOSE, CMD_STAT, CMD_RESET}
)

#: Error codes of ``ER,<CMD>,<code>`` answers; ``?`` stands for a command the unit could not read.
ERROR_CODES: Final = MappingProxyType(
    {
        "CHK": "bad checksum",
        "SYN": "bad fields",
        "RNG": "value out of range",
        "ILK": "refused by an interlock (e-stop, fault latched, no nozzle, dewar empty, "
        "watchdog tripped)",
        "UNK": "unknown command",
    }
)
UNREADABLE_COMMAND: Final = "?"

#: Events the unit sends on its own, and how many fields follow the name.
EV_TRIG: Final = "TRIG"
EV_ESTOP: Final = "ESTOP"
EV_NOZZLE: Final = "NOZZLE"
EV_LEASE: Final = "LEASE"
EV_FAULT: Final = "FAULT"
EVENT_ARITY: Final = MappingProxyType(
    {EV_TRIG: 1, EV_ESTOP: 1, EV_NOZZLE: 1, EV_LEASE: 0, EV_FAULT: 1}
)

#: Nozzle code -> LN2 flow at 50 kPa, g/s.
NOZZLE_FLOW_G_S_AT_50KPA: Final = MappingProxyType(
    {"A": 0.80, "B": 0.55, "C": 0.25, "D": 0.14, "M": 1.00, "P": 0.30}
)
NOZZLES: Final = tuple(NOZZLE_FLOW_G_S_AT_50KPA)
#: The nozzle field when none is fitted.
NO_NOZZLE: Final = "-"

#: Fault bit number -> ICD name.
FAULT_BITS: Final = MappingProxyType(
    {
        0: "WATCHDOG",
        1: "LEVEL_EMPTY",
        2: "OVERPRESSURE",
        3: "VALVE_MISMATCH",
        4: "TIP_SENSOR",
        5: "NOZZLE_LOST",
        6: "O2_LOW",
    }
)
WATCHDOG_BIT: Final = 0x0001


def fault_names(bits: int) -> frozenset[str]:
    """ICD names of the set bits; a bit the ICD does not name reads ``BIT<n>``."""
    return frozenset(FAULT_BITS.get(n, f"BIT{n}") for n in range(16) if bits & (1 << n))
