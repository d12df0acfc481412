"""Deadlines on the unit's own clock: the lease and the watchdog, measured from its history.

The unit stamps each valve change with its own clock when it acts, so these checks
hold on a busy machine as long as the unit's timer fires on time; no wall-clock sleeps
are asserted on.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from sim_n2_bench import frame

from simulator.n2.fixtures import N2Handle

LATE_S = 0.020


def _wait_closed(h: N2Handle, n_entries: int, *, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        history = h.unit.state()["valve_history"]
        if len(history) >= n_entries:
            return history
        time.sleep(0.005)
    raise AssertionError(f"valve history did not reach {n_entries} entries: {history}")


def _session(h: N2Handle) -> socket.socket:
    s = socket.create_connection((h.host, h.port), timeout=2)
    s.sendall(frame("WDT,5000") + frame("RESET"))
    return s


def test_lease_expires_within_lease_plus_20_ms(n2_tcp: N2Handle) -> None:
    lags = []
    with _session(n2_tcp) as s:
        for n, lease_ms in enumerate([20, 50, 100, 37, 500, 20, 80, 20]):
            s.sendall(frame(f"OPEN,{lease_ms}"))
            opened, closed = _wait_closed(n2_tcp, 2 * n + 2)[-2:]
            assert opened["open"] and opened["why"] == f"OPEN,{lease_ms}"
            assert not closed["open"] and closed["why"] == "lease"
            held_s = closed["t_s"] - opened["t_s"]
            assert lease_ms / 1000 <= held_s <= lease_ms / 1000 + LATE_S
            lags.append(held_s - lease_ms / 1000)
    print(f"lease lag max {max(lags) * 1000:.2f} ms")


def test_a_renewed_lease_runs_from_the_last_open(n2_tcp: N2Handle) -> None:
    with _session(n2_tcp) as s:
        s.sendall(frame("OPEN,150"))
        _wait_closed(n2_tcp, 1)
        time.sleep(0.08)
        s.sendall(frame("OPEN,150"))
        time.sleep(0.08)
        s.sendall(frame("OPEN,150"))
        opened, closed = _wait_closed(n2_tcp, 2)
        state = n2_tcp.unit.state()
        held_s = closed["t_s"] - state["last_open_s"]
        assert 0.150 <= held_s <= 0.150 + LATE_S
        assert closed["t_s"] - opened["t_s"] > 0.150 + 0.08


def test_watchdog_trips_within_wdt_and_closes_the_valve(n2_tcp: N2Handle) -> None:
    with _session(n2_tcp) as s:
        s.sendall(frame("WDT,100") + frame("OPEN,500"))
        opened, closed = _wait_closed(n2_tcp, 2)
        assert closed["why"] == "fault:WATCHDOG"
        assert 0.100 <= closed["t_s"] - opened["t_s"] <= 0.100 + LATE_S
        (trip,) = n2_tcp.unit.state()["fault_history"][-1:]
        assert trip["faults"] == "0001" and trip["t_s"] - trip["due_s"] <= LATE_S
        data = b""
        while b"EV,FAULT,0001" not in data:
            data += s.recv(1000)


def test_watchdog_trips_from_power_on_with_nobody_speaking(n2_tcp: N2Handle) -> None:
    deadline = time.monotonic() + 3
    while not n2_tcp.unit.state()["fault_history"] and time.monotonic() < deadline:
        time.sleep(0.02)
    (trip,) = n2_tcp.unit.state()["fault_history"]
    assert trip["faults"] == "0001" and trip["due_s"] == pytest.approx(1.0, abs=0.005)
    assert trip["t_s"] - trip["due_s"] <= LATE_S


def test_speed_runs_the_unit_clock_faster(n2_factory) -> None:
    h = n2_factory("tcp", speed=10.0, control=False)
    with _session(h) as s:
        t0 = time.monotonic()
        s.sendall(frame("OPEN,500"))
        opened, closed = _wait_closed(h, 2)
        assert time.monotonic() - t0 < 0.45
        assert closed["t_s"] - opened["t_s"] >= 0.5
