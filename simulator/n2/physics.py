"""The N2 unit's physical world: dewar, regulator, nozzle tip and the room's oxygen.

Simple but honest first-order models; every constant is named with its unit.

- LN2 flow through the fitted nozzle is the ICD's table value at 50 kPa scaled by
  ``sqrt(p / 50)`` with the *actual* line pressure, and only while the valve is open.
- The dewar holds 0.5 L of LN2 (density 0.807 g/mL, about 404 g) at 100 %; the level
  falls by flow over that mass.
- Pressure follows the regulator setpoint with a 0.4 s time constant; a failed
  regulator (the OVERPRESSURE fault injected) drives it toward 210 kPa instead.
- The tip falls toward -196 °C while LN2 flows (faster the more flows) and re-warms
  toward the 22 °C room when it stops. The closed probe ``P`` cools its tip the same way.
- The room's oxygen drops toward ``baseline - 1.6 % per g/s`` of flow with a 90 s time
  constant, and recovers toward the baseline when the flow stops.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["NOZZLES", "NozzleSpec", "Physics"]


@dataclasses.dataclass(frozen=True)
class NozzleSpec:
    code: str
    kind: str
    flow_g_s_at_50kpa: float


#: the ICD's nozzle table; ``-`` is "none fitted".
NOZZLES: dict[str, NozzleSpec] = {
    spec.code: spec
    for spec in (
        NozzleSpec("A", "spray 1.0 mm", 0.80),
        NozzleSpec("B", "spray 0.8 mm", 0.55),
        NozzleSpec("C", "spray 0.53 mm", 0.25),
        NozzleSpec("D", "spray 0.4 mm", 0.14),
        NozzleSpec("M", "cryomassage fan spray 1.2 mm slot", 1.00),
        NozzleSpec("P", "closed contact probe", 0.30),
        NozzleSpec("-", "none fitted", 0.0),
    )
}

DEWAR_FULL_G = 500.0 * 0.807
LN2_C = -196.0
ROOM_C = 22.0
AMBIENT_O2_PCT = 20.9
PRESSURE_TAU_S = 0.4
FAILED_REGULATOR_KPA = 210.0
TIP_COOL_TAU_S_AT_1G_S = 2.0
TIP_WARM_TAU_S = 25.0
O2_TAU_S = 90.0
O2_DROP_PCT_PER_G_S = 1.6


def flow_g_s(nozzle: str, pressure_kpa: float) -> float:
    """LN2 flow through ``nozzle`` at ``pressure_kpa`` gauge (valve open)."""
    base = NOZZLES[nozzle].flow_g_s_at_50kpa
    return base * math.sqrt(max(pressure_kpa, 0.0) / 50.0)


def _approach(value: float, target: float, dt_s: float, tau_s: float) -> float:
    return target + (value - target) * math.exp(-dt_s / tau_s)


@dataclasses.dataclass
class Physics:
    """The continuous quantities; ``step`` moves them forward by ``dt_s``."""

    pressure_kpa: float = 50.0
    level_pct: float = 100.0
    tip_c: float = ROOM_C
    o2_pct: float = AMBIENT_O2_PCT
    o2_baseline_pct: float = AMBIENT_O2_PCT
    flow_g_s: float = 0.0
    used_g: float = 0.0

    def step(
        self,
        dt_s: float,
        *,
        valve_open: bool,
        nozzle: str,
        setpoint_kpa: float,
        regulator_failed: bool,
    ) -> None:
        if dt_s <= 0:
            return
        target_kpa = FAILED_REGULATOR_KPA if regulator_failed else setpoint_kpa
        self.pressure_kpa = _approach(self.pressure_kpa, target_kpa, dt_s, PRESSURE_TAU_S)
        flowing = valve_open and self.level_pct > 0.0
        self.flow_g_s = flow_g_s(nozzle, self.pressure_kpa) if flowing else 0.0
        used_g = min(self.flow_g_s * dt_s, self.level_pct / 100.0 * DEWAR_FULL_G)
        self.used_g += used_g
        self.level_pct = max(0.0, self.level_pct - used_g / DEWAR_FULL_G * 100.0)
        if self.flow_g_s > 0:
            tau_s = TIP_COOL_TAU_S_AT_1G_S / max(self.flow_g_s, 0.05)
            self.tip_c = _approach(self.tip_c, LN2_C, dt_s, tau_s)
        else:
            self.tip_c = _approach(self.tip_c, ROOM_C, dt_s, TIP_WARM_TAU_S)
        o2_target = self.o2_baseline_pct - O2_DROP_PCT_PER_G_S * self.flow_g_s
        self.o2_pct = _approach(self.o2_pct, o2_target, dt_s, O2_TAU_S)
