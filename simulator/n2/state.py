"""The N2 unit's state as JSON-able data for ``GET /state`` and the Python API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.n2 import faults as fl
from simulator.n2.commands import interlocks, stat_body
from simulator.n2.physics import NOZZLES

if TYPE_CHECKING:
    from simulator.n2.core import N2Core

__all__ = ["render"]


def render(unit: N2Core) -> dict[str, Any]:
    """Every quantity of ``unit`` (lock held)."""
    p = unit._phys
    cfg = unit.config
    return {
        "kind": unit.kind,
        "t_s": unit._t_s,
        "id": {"model": cfg.model, "serial": cfg.serial, "fw": cfg.fw},
        "valve_open": unit._valve_open,
        "valve_commanded": unit._valve_cmd,
        "valve_stuck": unit._stuck is not None,
        "lease_due_s": unit._lease_due_s,
        "last_open_s": unit._last_open_s,
        "trigger": unit._trigger,
        "estop_button": unit._button,
        "estop_latched": unit._latch,
        "nozzle": unit._nozzle,
        "nozzle_kind": NOZZLES[unit._nozzle].kind,
        "setpoint_kpa": unit._setpoint_kpa,
        "pressure_kpa": p.pressure_kpa,
        "level_pct": p.level_pct,
        "flow_g_s": p.flow_g_s,
        "used_g": p.used_g,
        "tip_c": unit._tip_reading_c(),
        "tip_true_c": p.tip_c,
        "o2_pct": p.o2_pct,
        "o2_baseline_pct": p.o2_baseline_pct,
        "wdt_ms": unit._wdt_ms,
        "watchdog_fed_s": unit._last_feed_s,
        "watchdog_due_s": unit._wdt_due_s(),
        "watchdog_reason": unit.watchdog_reason(),
        "faults": fl.fault_word(unit._bits),
        "fault_names": fl.names(unit._bits),
        "injected": sorted(unit._injected),
        "interlocks": interlocks(unit),
        "stat": stat_body(unit),
        "link": unit.link.as_dict(),
        "valve_history": list(unit._history),
        "fault_history": list(unit._fault_log),
        "counters": {**unit._counters, "noise_bytes": unit._decoder.noise_bytes},
    }
