"""Modbus PDUs for the CJ-Air unit: request bytes in, answer bytes out, no I/O.

Checks follow the Modbus application protocol's order — function code (0x01), then
quantity and byte count (0x03), then address (0x02), then value (0x03) — and the
ICD: an unknown address gets 0x02; a value out of range gets 0x03 and changes nothing
(a multi-register write containing one bad value changes no register at all).
"""

from __future__ import annotations

import struct

from simulator.cjair.registers import Coil, Discrete, Holding, Input
from simulator.cjair.unit import CjAirUnit

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03

READ_COILS, READ_DISCRETES, READ_HOLDING, READ_INPUTS = 1, 2, 3, 4
WRITE_COIL, WRITE_REGISTER, WRITE_COILS, WRITE_REGISTERS = 5, 6, 15, 16

_SIZES = {
    READ_COILS: len(Coil),
    READ_DISCRETES: len(Discrete),
    READ_HOLDING: len(Holding),
    READ_INPUTS: len(Input),
}
_MAX_READ = {READ_COILS: 2000, READ_DISCRETES: 2000, READ_HOLDING: 125, READ_INPUTS: 125}


def exception(function_code: int, code: int) -> bytes:
    return bytes([function_code | 0x80, code])


def is_exception(answer: bytes) -> bool:
    return bool(answer) and answer[0] & 0x80 != 0


def handle(unit: CjAirUnit, pdu: bytes) -> bytes:
    """Answer one request PDU (function code + data) for ``unit``, already advanced to now."""
    if not pdu:
        return exception(0, ILLEGAL_FUNCTION)
    fc, data = pdu[0], pdu[1:]
    with unit.atomic():
        if fc in _SIZES:
            return _read(unit, fc, data)
        if fc == WRITE_COIL:
            return _write_coil(unit, pdu, data)
        if fc == WRITE_REGISTER:
            return _write_register(unit, pdu, data)
        if fc == WRITE_COILS:
            return _write_coils(unit, data)
        if fc == WRITE_REGISTERS:
            return _write_registers(unit, data)
    return exception(fc, ILLEGAL_FUNCTION)


def _read(unit: CjAirUnit, fc: int, data: bytes) -> bytes:
    if len(data) != 4:
        return exception(fc, ILLEGAL_VALUE)
    address, count = struct.unpack(">HH", data)
    if not 1 <= count <= _MAX_READ[fc]:
        return exception(fc, ILLEGAL_VALUE)
    if address + count > _SIZES[fc]:
        return exception(fc, ILLEGAL_ADDRESS)
    if fc == READ_COILS:
        return _bits(fc, unit.read_coils()[address : address + count])
    if fc == READ_DISCRETES:
        return _bits(fc, unit.read_discretes()[address : address + count])
    registers = unit.read_holding() if fc == READ_HOLDING else unit.read_inputs()
    words = registers[address : address + count]
    return bytes([fc, 2 * count]) + struct.pack(f">{count}H", *words)


def _bits(fc: int, bits: list[bool]) -> bytes:
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i // 8] |= 1 << (i % 8)
    return bytes([fc, len(packed)]) + bytes(packed)


def _write_coil(unit: CjAirUnit, pdu: bytes, data: bytes) -> bytes:
    if len(data) != 4:
        return exception(WRITE_COIL, ILLEGAL_VALUE)
    address, value = struct.unpack(">HH", data)
    if value not in (0x0000, 0xFF00):
        return exception(WRITE_COIL, ILLEGAL_VALUE)
    if address >= len(Coil):
        return exception(WRITE_COIL, ILLEGAL_ADDRESS)
    unit.write_coil(address, value == 0xFF00)
    return pdu  # the normal answer echoes the request


def _write_register(unit: CjAirUnit, pdu: bytes, data: bytes) -> bytes:
    if len(data) != 4:
        return exception(WRITE_REGISTER, ILLEGAL_VALUE)
    address, value = struct.unpack(">HH", data)
    if address >= len(Holding):
        return exception(WRITE_REGISTER, ILLEGAL_ADDRESS)
    if not unit.holding_ok(address, value):
        return exception(WRITE_REGISTER, ILLEGAL_VALUE)
    unit.write_holding(address, value)
    return pdu


def _write_coils(unit: CjAirUnit, data: bytes) -> bytes:
    if len(data) < 5:
        return exception(WRITE_COILS, ILLEGAL_VALUE)
    address, count, byte_count = struct.unpack(">HHB", data[:5])
    if not 1 <= count <= 0x7B0 or byte_count != (count + 7) // 8 or len(data) != 5 + byte_count:
        return exception(WRITE_COILS, ILLEGAL_VALUE)
    if address + count > len(Coil):
        return exception(WRITE_COILS, ILLEGAL_ADDRESS)
    packed = data[5:]
    for i in range(count):
        unit.write_coil(address + i, bool(packed[i // 8] >> (i % 8) & 1))
    return struct.pack(">BHH", WRITE_COILS, address, count)


def _write_registers(unit: CjAirUnit, data: bytes) -> bytes:
    if len(data) < 5:
        return exception(WRITE_REGISTERS, ILLEGAL_VALUE)
    address, count, byte_count = struct.unpack(">HHB", data[:5])
    if not 1 <= count <= 0x7B or byte_count != 2 * count or len(data) != 5 + byte_count:
        return exception(WRITE_REGISTERS, ILLEGAL_VALUE)
    if address + count > len(Holding):
        return exception(WRITE_REGISTERS, ILLEGAL_ADDRESS)
    values = struct.unpack(f">{count}H", data[5:])
    if not all(unit.holding_ok(address + i, v) for i, v in enumerate(values)):
        return exception(WRITE_REGISTERS, ILLEGAL_VALUE)
    for i, value in enumerate(values):
        unit.write_holding(address + i, value)
    return struct.pack(">BHH", WRITE_REGISTERS, address, count)
