"""What the N2 unit does for each well-formed command (the ICD's command table).

STAT's numbers, where the ICD gives no resolution: ``press_kpa`` rounded to whole kPa,
``level_pct`` truncated to whole percent (4.9 % reads 4, in step with LEVEL_EMPTY),
``tip_c10`` and ``o2_p10`` rounded to the nearest tenth; the valve field is the valve's
real position (it differs from the command only while VALVE_MISMATCH sticks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.n2 import faults as fl
from simulator.n2.faults import Fault
from simulator.n2.protocol import Command

if TYPE_CHECKING:
    from simulator.n2.core import N2Core

__all__ = ["execute", "interlocks", "stat_body"]


def interlocks(unit: N2Core) -> list[str]:
    """Why OPEN would be refused now (empty: it would not)."""
    why = []
    if unit._latch:
        why.append("estop")
    if unit._bits:
        why.append("faults " + fl.fault_word(unit._bits))
    if unit._nozzle == "-":
        why.append("no nozzle")
    if unit._phys.level_pct < fl.LEVEL_EMPTY_PCT:
        why.append("dewar empty")
    return why


def stat_body(unit: N2Core) -> str:
    p = unit._phys
    fields = [
        int(unit._valve_open),
        int(unit._trigger),
        int(unit._latch),
        unit._nozzle,
        round(p.pressure_kpa),
        int(p.level_pct),
        round(unit._tip_reading_c() * 10),
        round(p.o2_pct * 10),
        fl.fault_word(unit._bits),
    ]
    return "OK,STAT," + ",".join(str(f) for f in fields)


def _reset(unit: N2Core) -> None:
    remaining = unit._live_causes()
    if Fault.NOZZLE_LOST in unit._bits and unit._nozzle == "-":
        remaining |= Fault.NOZZLE_LOST
    if unit._stuck is not None:
        remaining |= Fault.VALVE_MISMATCH
    before = unit._bits
    unit._bits &= remaining
    unit._answer("OK,RESET")
    if unit._latch and not unit._button:
        unit._latch = False
        unit._event("EV,ESTOP,0")
    if unit._bits != before:
        unit._fault_changed()


def execute(unit: N2Core, cmd: Command, now: float) -> None:
    """Run ``cmd`` on ``unit`` (lock held) and queue its answer and any events."""
    name, value = cmd.name, cmd.value
    unit._last_feed_s = now
    if name == "ID":
        cfg = unit.config
        unit._answer(f"OK,ID,{cfg.model},{cfg.serial},{cfg.fw}")
    elif name == "HB":
        unit._answer(f"OK,HB,{cmd.text}")
    elif name == "WDT" and value is not None:
        unit._wdt_ms = value
        unit._answer(f"OK,WDT,{value}")
    elif name == "PRESS" and value is not None:
        unit._setpoint_kpa = value
        unit._answer(f"OK,PRESS,{value}")
    elif name == "OPEN" and value is not None:
        refused = interlocks(unit)
        if refused:
            unit._answer("ER,OPEN,ILK")
            return
        unit._lease_due_s = now + value / 1000.0
        unit._last_open_s = now
        unit._set_valve(True, f"OPEN,{value}")
        unit._answer(f"OK,OPEN,{value}")
    elif name == "CLOSE":
        unit._lease_due_s = None
        unit._set_valve(False, "CLOSE")
        unit._answer("OK,CLOSE")
    elif name == "STAT":
        if unit.link.freeze:
            if unit._frozen_stat is None:
                unit._frozen_stat = stat_body(unit)
            unit._answer(unit._frozen_stat)
        else:
            unit._frozen_stat = None
            unit._answer(stat_body(unit))
    elif name == "RESET":
        _reset(unit)
    else:
        raise AssertionError(f"command table and executor disagree on {name!r}")
