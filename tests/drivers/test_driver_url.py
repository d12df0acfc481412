"""Unit URLs: every accepted form, and one clear line for every bad one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoctl.errors import AddressError
from drivers.url import MODBUS_RTU, MODBUS_TCP, UnitAddress, parse_url


def test_modbus_tcp() -> None:
    a = parse_url("modbus+tcp://127.0.0.1:5020?device_id=7")
    assert a == UnitAddress(
        url="modbus+tcp://127.0.0.1:5020?device_id=7",
        scheme="modbus+tcp",
        host="127.0.0.1",
        port=5020,
        device_id=7,
    )
    assert a.is_network


def test_modbus_tcp_defaults_from_the_icd() -> None:
    a = parse_url("modbus+tcp://unit.local")
    assert (a.port, a.device_id) == (502, 1)


def test_modbus_rtu() -> None:
    a = parse_url("modbus+rtu:///dev/ttyUSB0?baud=9600&parity=o&device_id=12")
    assert (a.path, a.baud, a.parity, a.device_id) == ("/dev/ttyUSB0", 9600, "O", 12)
    assert a.host is None and not a.is_network
    assert a.serial_for_url_target() == "/dev/ttyUSB0"


def test_modbus_rtu_defaults_from_the_icd() -> None:
    a = parse_url("modbus+rtu:///tmp/x/pty")
    assert (a.baud, a.parity, a.device_id) == (19200, "E", 1)


def test_n2_serial_and_socket() -> None:
    s = parse_url("n2+serial:///dev/ttyACM0")
    assert (s.path, s.baud, s.parity, s.device_id) == ("/dev/ttyACM0", 115200, "N", None)
    t = parse_url("n2+socket://127.0.0.1:4000")
    assert (t.host, t.port) == ("127.0.0.1", 4000)
    assert t.serial_for_url_target() == "socket://127.0.0.1:4000"
    v6 = parse_url("n2+socket://[::1]:4000")
    assert v6.serial_for_url_target() == "socket://[::1]:4000"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("127.0.0.1:502", "not a unit URL"),
        ("http://127.0.0.1:502", "unknown scheme 'http'"),
        ("modbus+tcp://:502", "missing host"),
        ("n2+socket://127.0.0.1", "missing port"),
        ("modbus+tcp://127.0.0.1:99999", "malformed URL"),
        ("modbus+tcp://127.0.0.1:0", "port 0 is outside"),
        ("modbus+tcp://127.0.0.1:502/x", "unexpected path"),
        ("modbus+tcp://127.0.0.1:502?device_id=0", "device_id=0 is outside 1..247"),
        ("modbus+tcp://127.0.0.1:502?device_id=x", "not a whole number"),
        ("modbus+tcp://127.0.0.1:502?baud=9600", "unknown option 'baud'"),
        ("modbus+tcp://127.0.0.1:502?device_id=1&device_id=2", "given twice"),
        ("modbus+tcp://u:p@127.0.0.1:502", "user information"),
        ("modbus+tcp://127.0.0.1:502#frag", "fragment"),
        ("modbus+rtu://host/dev/ttyUSB0", "unexpected host"),
        ("modbus+rtu://", "missing device path"),
        ("modbus+rtu:///dev/ttyUSB0?baud=12345", "not a standard rate"),
        ("modbus+rtu:///dev/ttyUSB0?parity=X", "not one of N, E, O"),
        ("modbus+rtu:///dev/ttyUSB0?timeout=1", "unknown option 'timeout'"),
        ("modbus+rtu:///dev/tty USB0", "whitespace"),
        ("n2+serial:///dev/ttyACM0?device_id=1", "unknown option 'device_id'"),
        ("n2+serial:///dev/ttyACM0?baud", "malformed query"),
    ],
)
def test_bad_urls_are_one_line_naming_url_and_reason(url: str, reason: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_url(url)
    message = str(info.value)
    assert "\n" not in message
    assert reason in message
    if url:
        assert message.startswith(f"{url}: ")


def test_schemes_can_be_restricted() -> None:
    with pytest.raises(AddressError, match="unknown scheme 'n2\\+socket'"):
        parse_url("n2+socket://127.0.0.1:4000", schemes=(MODBUS_TCP, MODBUS_RTU))


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_address_error(text: str) -> None:
    try:
        parsed = parse_url(text)
    except AddressError as exc:
        assert "\n" not in str(exc)
    else:
        assert parsed.url == text
