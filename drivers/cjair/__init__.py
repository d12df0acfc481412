"""The CJ-Air cold-air unit over Modbus RTU or TCP (ICD rev B, hardware/cj-air-modbus.md)."""
