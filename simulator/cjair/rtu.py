"""Modbus RTU framing from the unit's side: CRC-16 and request lengths, no I/O."""

from __future__ import annotations


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes) -> bytes:
    """Modbus CRC-16 (poly 0xA001, init 0xFFFF), low byte first as sent on the wire."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc.to_bytes(2, "little")


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame)


def crc_ok(adu: bytes) -> bool:
    return len(adu) >= 4 and crc16(adu[:-2]) == adu[-2:]


def request_size(buffer: bytes | bytearray) -> int | None:
    """Length of the request ADU at the start of ``buffer``, if its function code tells it.

    ``None`` for an unknown function code or when too few bytes have arrived to know;
    such frames end at the line's silent gap instead.
    """
    if len(buffer) < 2:
        return None
    fc = buffer[1]
    if 1 <= fc <= 6:
        return 8
    if fc in (15, 16):
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return None


def char_time_s(baud: int) -> float:
    """One character on the line: start, 8 data, parity, stop bits."""
    return 11 / baud


def exchange_time_s(request_len: int, answer_len: int, baud: int) -> float:
    """Request, answer and the two 3.5-character gaps, as a real line would take."""
    return (request_len + answer_len + 7) * char_time_s(baud)
