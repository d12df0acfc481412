"""RTU framing from literal frames: CRC and request lengths."""

from __future__ import annotations

import pytest

from simulator.cjair.rtu import crc16, crc_ok, exchange_time_s, request_size, with_crc


def test_crc_of_known_frames() -> None:
    assert with_crc(bytes.fromhex("010300000005")) == bytes.fromhex("01030000000585c9")
    assert crc16(bytes.fromhex("01050000ff00")) == bytes.fromhex("8c3a")
    assert crc_ok(bytes.fromhex("01030000000585c9"))
    assert not crc_ok(bytes.fromhex("01030000000585ca"))
    assert not crc_ok(b"\x01\x03")


@pytest.mark.parametrize(
    ("buffer", "size"),
    [
        ("01", None),
        ("0103", 8),
        ("0106000a", 8),
        ("010f0000000a02", 11),
        ("0110000000020400", 13),
        ("011000000002", None),  # byte count not yet arrived
        ("0111", None),  # unknown function: ends at the line's gap
    ],
)
def test_request_size(buffer: str, size: int | None) -> None:
    assert request_size(bytes.fromhex(buffer)) == size


def test_exchange_time_matches_the_wire_floor() -> None:
    # write_coil at 19200 8E1: 8 + 8 chars and two 3.5-char gaps = 13.2 ms
    assert exchange_time_s(8, 8, 19200) == pytest.approx(0.0132, abs=0.0001)
