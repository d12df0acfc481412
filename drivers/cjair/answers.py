"""Checks of Modbus answers against the request that asked for them. No I/O.

``where`` names the URL and the request ("modbus+tcp://...: read 7 discrete inputs")
and starts every error message, so each error is one line naming both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pymodbus.pdu import ModbusPDU

from cryoctl.errors import DeviceRefused, ProtocolError
from drivers.cjair.registers import MODBUS_EXCEPTIONS

__all__ = [
    "FC_READ_COILS",
    "FC_READ_DISCRETE",
    "FC_READ_HOLDING",
    "FC_READ_INPUT",
    "FC_WRITE_COIL",
    "FC_WRITE_REGISTER",
    "FC_WRITE_REGISTERS",
    "bits_of",
    "checked",
    "coil_echoed",
    "register_echoed",
    "registers_echoed",
    "words_of",
]

FC_READ_COILS: Final = 0x01
FC_READ_DISCRETE: Final = 0x02
FC_READ_HOLDING: Final = 0x03
FC_READ_INPUT: Final = 0x04
FC_WRITE_COIL: Final = 0x05
FC_WRITE_REGISTER: Final = 0x06
FC_WRITE_REGISTERS: Final = 0x10
_EXCEPTION_FLAG: Final = 0x80


def checked(answer: ModbusPDU, function_code: int, where: str) -> ModbusPDU:
    """The answer if it answers ``function_code``; DeviceRefused for an exception answer."""
    if answer.function_code & ~_EXCEPTION_FLAG != function_code:
        raise ProtocolError(f"{where}: answer has function code {answer.function_code:#04x}")
    if answer.isError():
        code = answer.exception_code
        name = MODBUS_EXCEPTIONS.get(code, "unknown exception")
        raise DeviceRefused(f"{where}: refused, exception {code} ({name})", code=code)
    return answer


def bits_of(answer: ModbusPDU, count: int, where: str) -> list[bool]:
    """The first ``count`` bits (answers are padded to whole bytes)."""
    bits = [bool(b) for b in answer.bits]
    if len(bits) < count:
        raise ProtocolError(f"{where}: {len(bits)} bits, expected {count}")
    return bits[:count]


def words_of(answer: ModbusPDU, count: int, where: str) -> list[int]:
    words = list(answer.registers)
    if len(words) != count:
        raise ProtocolError(f"{where}: {len(words)} registers, expected {count}")
    return words


def coil_echoed(answer: ModbusPDU, address: int, value: bool, where: str) -> None:
    if answer.address != address or not answer.bits or bool(answer.bits[0]) != value:
        raise ProtocolError(f"{where}: echo does not match the request")


def register_echoed(answer: ModbusPDU, address: int, value: int, where: str) -> None:
    if answer.address != address or list(answer.registers) != [value]:
        raise ProtocolError(f"{where}: echo does not match the request")


def registers_echoed(answer: ModbusPDU, address: int, values: Sequence[int], where: str) -> None:
    if answer.address != address or answer.count != len(values):
        raise ProtocolError(f"{where}: echo does not match the request")
