"""Continuous quantities of the CJ-Air unit: first-order lags, simple but honest.

- the cooling stage approaches TEMP_SETPOINT with ``COOLER_TAU_S`` (from room
  temperature, within 3 °C of any setpoint in the range after roughly 30-45 s);
  switched off or failed, it warms toward the room;
- skin under the nozzle falls toward a value set by outlet temperature and airflow
  while the outlet flows, and re-warms toward 32 °C otherwise;
- room oxygen falls slowly toward a level set by the airflow while cold
  (nitrogen-enriched) air flows, and recovers toward 20.9 % when it stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROOM_C = 22.0
SKIN_BASE_C = 32.0
O2_ROOM_PCT = 20.9

COOLER_TAU_S = 12.0
WARM_TAU_S = 60.0
SKIN_COOL_TAU_S = 8.0
SKIN_WARM_TAU_S = 20.0
O2_FALL_TAU_S = 300.0
O2_RECOVER_TAU_S = 120.0
#: O2 the room settles at after long flow, per airflow level.
O2_DROP_PCT_PER_LEVEL = 0.35
#: the outlet temperature sensor's reading when it has failed (open circuit), °C.
FAILED_SENSOR_C = 85.0


@dataclass
class Inputs:
    """What the continuous quantities depend on over one step."""

    cooler_on: bool
    cooler_failed: bool
    setpoint_c: float
    flowing: bool
    airflow_level: int
    on_skin: bool


@dataclass
class Physics:
    outlet_temp_c: float = ROOM_C
    skin_temp_c: float = SKIN_BASE_C
    o2_pct: float = O2_ROOM_PCT

    def step(self, dt_s: float, inputs: Inputs) -> None:
        if dt_s <= 0:
            return
        if inputs.cooler_on and not inputs.cooler_failed:
            self.outlet_temp_c = _lag(self.outlet_temp_c, inputs.setpoint_c, dt_s, COOLER_TAU_S)
        else:
            self.outlet_temp_c = _lag(self.outlet_temp_c, ROOM_C, dt_s, WARM_TAU_S)
        if inputs.flowing and inputs.on_skin:
            self.skin_temp_c = _lag(
                self.skin_temp_c,
                skin_target_c(self.outlet_temp_c, inputs.airflow_level),
                dt_s,
                SKIN_COOL_TAU_S,
            )
        else:
            self.skin_temp_c = _lag(self.skin_temp_c, SKIN_BASE_C, dt_s, SKIN_WARM_TAU_S)
        if inputs.flowing:
            o2_target = O2_ROOM_PCT - O2_DROP_PCT_PER_LEVEL * inputs.airflow_level
            self.o2_pct = _lag(self.o2_pct, min(o2_target, self.o2_pct), dt_s, O2_FALL_TAU_S)
        else:
            self.o2_pct = _lag(self.o2_pct, O2_ROOM_PCT, dt_s, O2_RECOVER_TAU_S)


def skin_target_c(outlet_temp_c: float, airflow_level: int) -> float:
    """Where skin settles under the nozzle: colder outlet and more air pull it further down."""
    share = 0.25 + 0.05 * airflow_level
    return SKIN_BASE_C + (outlet_temp_c - SKIN_BASE_C) * share


def _lag(value: float, target: float, dt_s: float, tau_s: float) -> float:
    return target + (value - target) * math.exp(-dt_s / tau_s)
