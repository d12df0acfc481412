"""The CJ-Air cold-air unit, written from ``hardware/cj-air-modbus.md`` (ICD rev B)."""

from simulator.cjair.unit import CjAirUnit

__all__ = ["CjAirUnit"]
