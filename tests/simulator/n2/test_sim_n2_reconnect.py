"""A host that reconnects at once after its link dropped gets the line, over real TCP.

The previous client's close reaches the unit's socket before the new connection is
accepted, so the new client must never be taken for a second, concurrent one. A client
that is still connected keeps the line and a second one is refused (see
test_sim_n2_wire.py).
"""

from __future__ import annotations

import socket
import struct

import pytest
from sim_n2_bench import frame, unframe

from simulator.n2.fixtures import N2Handle
from simulator.n2.unit import N2Config

QUIET = N2Config(wdt_ms=5000)  # no watchdog event in the middle of these exchanges
TIMEOUT_S = 2.0


@pytest.fixture
def unit(n2_factory) -> N2Handle:
    return n2_factory("tcp", config=QUIET, control=False)


def _connect(h: N2Handle) -> socket.socket:
    assert h.host is not None and h.port is not None
    return socket.create_connection((h.host, h.port), timeout=TIMEOUT_S)


def _line(s: socket.socket) -> bytes:
    """One line from the unit, or what came before the unit closed the connection."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _ask(s: socket.socket, body: str) -> str:
    s.sendall(frame(body))
    return unframe(_line(s))


def _reset_on_close(s: socket.socket) -> None:
    """Make ``close()`` send RST instead of FIN: a peer that vanished, not one that said bye."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_that_closed_is_replaced_at_once(unit: N2Handle) -> None:
    s = _connect(unit)
    assert _ask(s, "HB,1") == "OK,HB,1"
    s.close()
    with _connect(unit) as again:  # no pause: a driver reconnecting after a drop
        assert _ask(again, "HB,2") == "OK,HB,2"


def test_fifty_quick_reconnects_each_get_the_line(unit: N2Handle) -> None:
    for seq in range(50):
        s = _connect(unit)
        try:
            assert _ask(s, f"HB,{seq}") == f"OK,HB,{seq}", f"reconnect {seq}"
        finally:
            s.close()


def test_a_client_that_reset_its_connection_is_replaced_at_once(unit: N2Handle) -> None:
    for seq in range(20):
        s = _connect(unit)
        assert _ask(s, f"HB,{seq}") == f"OK,HB,{seq}"
        _reset_on_close(s)
        s.close()
    with _connect(unit) as again:
        assert _ask(again, "HB,99") == "OK,HB,99"


def test_a_client_that_shut_its_socket_down_is_replaced_at_once(unit: N2Handle) -> None:
    for seq in range(20):
        s = _connect(unit)
        assert _ask(s, f"HB,{seq}") == f"OK,HB,{seq}"
        s.shutdown(socket.SHUT_RDWR)  # what pyserial's socket:// close does first
        s.close()
    with _connect(unit) as again:
        assert _ask(again, "HB,99") == "OK,HB,99"


def test_what_a_client_sent_just_before_closing_still_runs(unit: N2Handle) -> None:
    """Bytes on the wire before the close are the old host's; they run before the new one."""
    for wdt_ms in range(1000, 1020):
        s = _connect(unit)
        s.sendall(frame(f"WDT,{wdt_ms}"))  # closed without waiting for the answer
        s.close()
        with _connect(unit) as again:
            assert _ask(again, "HB,1") == "OK,HB,1"
            assert unit.unit.state()["wdt_ms"] == wdt_ms


def test_a_second_client_is_refused_while_the_first_is_alive(unit: N2Handle) -> None:
    with _connect(unit) as first:
        assert _ask(first, "HB,1") == "OK,HB,1"
        for _ in range(10):
            with _connect(unit) as second:
                assert _line(second) == b""  # closed by the unit at once
        assert _ask(first, "HB,2") == "OK,HB,2"
