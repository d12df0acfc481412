"""The unit acts on time by itself: watchdog and opening cap, judged by its own timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from simulator.cjair.fixtures import CjAirHandle

ID = {"device_id": 1}
#: the allowance the ICD's behaviour gets on a busy 2-core machine.
LATE_S = 0.050
#: the unit acts at its deadline exactly; a difference of two stamps may lose an ulp.
ULP_S = 1e-9


@pytest.fixture
def client(cjair_tcp: CjAirHandle) -> Iterator[ModbusTcpClient]:
    c = ModbusTcpClient("127.0.0.1", port=cjair_tcp.port or 0, timeout=2, retries=0)
    assert c.connect()
    yield c
    c.close()


def _wait_for_close(handle: CjAirHandle, *, after: int, timeout_s: float = 3.0) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        history = handle.unit.state()["valve_history"]
        if len(history) > after and not history[-1]["open"]:
            return dict(history[-1])
        time.sleep(0.01)
    raise AssertionError(f"the outlet did not close: {handle.unit.state()['valve_history']}")


@pytest.mark.parametrize("watchdog_ms", [100, 250])
def test_watchdog_closes_the_outlet_within_watchdog_ms_plus_50(
    client: ModbusTcpClient, cjair_tcp: CjAirHandle, watchdog_ms: int
) -> None:
    assert not client.write_register(3, watchdog_ms, **ID).isError()
    for beat in range(1, 4):
        assert not client.write_register(2, beat, **ID).isError()
        assert not client.write_coil(2, True, **ID).isError()  # FAULT_RESET
        assert not client.write_coil(0, True, **ID).isError()
        assert client.read_coils(0, count=1, **ID).bits[0]
        opened = len(cjair_tcp.unit.state()["valve_history"])
        closed = _wait_for_close(cjair_tcp, after=opened)
        state = cjair_tcp.unit.state()
        assert closed["why"] == "fault:WATCHDOG"
        lapse_s = closed["t_s"] - state["last_heartbeat_s"]
        assert watchdog_ms / 1000 - ULP_S <= lapse_s <= watchdog_ms / 1000 + LATE_S, lapse_s
        assert state["discretes"]["WATCHDOG_TRIPPED"]


def test_max_open_ms_closes_the_outlet_on_time(
    client: ModbusTcpClient, cjair_tcp: CjAirHandle
) -> None:
    assert not client.write_registers(3, [5000, 500], **ID).isError()
    assert not client.write_register(2, 1, **ID).isError()
    assert not client.write_coil(2, True, **ID).isError()
    assert not client.write_coil(0, True, **ID).isError()
    opened = cjair_tcp.unit.state()["valve_history"][-1]
    assert opened["open"]
    closed = _wait_for_close(cjair_tcp, after=1)
    assert closed["why"] == "fault:OPEN_CAP"
    assert 0.5 - ULP_S <= closed["t_s"] - opened["t_s"] <= 0.5 + LATE_S
    assert client.read_input_registers(1, count=1, **ID).registers == [0b10]


def test_speed_scales_the_unit_s_own_timers(cjair_factory) -> None:  # type: ignore[no-untyped-def]
    handle = cjair_factory(speed=20.0)
    time.sleep(0.1)  # 2 s of unit time: the power-on watchdog (1 s) has tripped
    state = handle.unit.state()
    assert state["faults"] == ["WATCHDOG"]
    trip = next(e for e in state["events"] if e["event"] == "FAULT")
    assert 1.0 - ULP_S <= trip["t_s"] <= 1.0 + 20 * LATE_S
