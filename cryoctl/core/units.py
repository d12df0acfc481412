"""Unit conversions shared by the core and the drivers. Names carry units."""

from __future__ import annotations

import math

#: Ambient oxygen below which spraying stops (DESIGN.md, both ICDs).
O2_LOW_PCT = 19.5
#: Ambient oxygen below which the host latches a fault.
O2_FAULT_PCT = 18.0


def c10_to_c(value_c10: int) -> float:
    """Tenths of a degree Celsius to degrees Celsius."""
    return value_c10 / 10.0


def c_to_c10(value_c: float) -> int:
    """Degrees Celsius to tenths of a degree, rounded to the nearest tenth."""
    return round(value_c * 10.0)


def p10_to_pct(value_p10: int) -> float:
    """Tenths of a percent to percent."""
    return value_p10 / 10.0


def int16_from_u16(raw: int) -> int:
    """A Modbus register (0..65535) read as a signed 16-bit integer."""
    raw &= 0xFFFF
    return raw - 0x10000 if raw & 0x8000 else raw


def u16_from_int16(value: int) -> int:
    """A signed 16-bit integer as the unsigned register value that carries it."""
    if not -0x8000 <= value <= 0x7FFF:
        raise ValueError(f"{value} does not fit a signed 16-bit register")
    return value & 0xFFFF


def ln2_flow_g_s(flow_at_50kpa_g_s: float, pressure_kpa: float) -> float:
    """LN2 flow at a pressure, from the flow at 50 kPa: flow(50) x sqrt(p / 50)."""
    if pressure_kpa <= 0:
        return 0.0
    return flow_at_50kpa_g_s * math.sqrt(pressure_kpa / 50.0)
