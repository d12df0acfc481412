"""The CJ-Air cold-air unit, written from ``hardware/cj-air-modbus.md`` (ICD rev B).

- ``unit.CjAirUnit``: registers, physics, the unit's own safety rules and the control
  API (thread-safe); ``rules`` holds the latch/clear rules, ``physics`` the lags.
- ``pdu``: Modbus requests to answers, no I/O; ``server`` (TCP) and ``rtu_server``
  (RTU on a pty) put it on the wire with link faults; ``fixtures`` and ``cli`` run it.

``set_fault(name, active, value=None)`` names: the ICD's fault bits inject their
*cause* (TEMP_SENSOR: the sensor reads +85.0 °C; COOLER: the stage stops cooling;
O2_LOW: the room sensor reads 18.0 %; VALVE_MISMATCH: the valve sticks where it is;
HOSE_LOST: the hose comes off) and the unit's own rule latches the bit, which stays
until FAULT_RESET once the cause is gone; WATCHDOG and OPEN_CAP latch at once;
``valve_lag`` sets the valve's travel time in ms; ``drop_all``, ``corrupt`` (ratio),
``delay`` (ms) and ``freeze`` are link faults.
"""

from simulator.cjair.unit import CjAirUnit

__all__ = ["CjAirUnit"]
