"""The CJ-Air cold-air unit over Modbus RTU or TCP (ICD rev B, hardware/cj-air-modbus.md).

Addressed as ``modbus+tcp://HOST:PORT?device_id=1`` or
``modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E&device_id=1`` (ICD defaults: 19200 8E1,
id 1, port 502).

Modules, each with one reason to change:

- ``registers``: the register map, ranges and codes as data;
- ``codec``: register words <-> the port's Status and set-point words (pure);
- ``answers``: is a Modbus answer the one the request asked for (pure);
- ``prio``: the lock that lets close writes go before waiting polls;
- ``bus``: one request in flight, timeouts, bounded read retries, writes sent once,
  reconnect with back-off, the frame trace;
- ``poller``: which tables a status reads, so a 50 Hz loop fits a 19200-baud line;
- ``driver``: :class:`~drivers.cjair.driver.CjAirDriver`, the core's DevicePort.

``Status.airflow_level`` is AIRFLOW_ACTUAL / 10 (what the blower delivers, 0 while
closed), not the AIRFLOW_LEVEL set-point. The ICD has no serial-number register, so
``Identity.serial`` is "unreported".
"""
