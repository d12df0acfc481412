"""cap_open against the simulated CJ-Air unit over Modbus TCP on 127.0.0.1.

The controller writes MAX_OPEN_MS at each zone's start (its dwell + 0.5 s); the unit
then closes any one opening at that cap by itself and latches OPEN_CAP. When the
unit closed is measured on the unit's own valve history, not on the host's polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from cryoctl.core.port import Protection, Status
from cryoctl.errors import ConfigError
from drivers.cjair.driver import CjAirDriver
from simulator.cjair.fixtures import CjAirHandle
from simulator.cjair.server import TICK_S

PROTECTION = Protection(watchdog_ms=1000, max_open_ms=20000)
#: two stamps of the unit's own clock may differ from the cap by an ulp
ULP_S = 1e-9


@pytest.fixture
async def driver(cjair_tcp: CjAirHandle) -> AsyncIterator[CjAirDriver]:
    d = CjAirDriver.from_url(cjair_tcp.url, clock=time.monotonic)
    await d.connect()
    await d.configure(PROTECTION)
    yield d
    await d.aclose()


async def until(
    driver: CjAirDriver, what: str, pred: Callable[[Status], bool], *, within_s: float
) -> Status:
    """Poll at about 50 Hz, feeding the watchdog, until ``pred`` holds."""
    deadline = time.monotonic() + within_s
    while True:
        await driver.heartbeat()
        status = await driver.read_status()
        if pred(status):
            return status
        assert time.monotonic() < deadline, f"{what} not seen within {within_s} s: {status}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("max_open_ms", [500, 1500, 20500, 60000])
async def test_the_cap_reads_back(
    driver: CjAirDriver, cjair_tcp: CjAirHandle, max_open_ms: int
) -> None:
    assert await driver.cap_open(max_open_ms) == max_open_ms
    assert cjair_tcp.unit.state()["holding"]["MAX_OPEN_MS"] == max_open_ms


@pytest.mark.parametrize("max_open_ms", [0, 499, 60001, 65535, 70000, -1])
async def test_a_cap_out_of_range_is_refused_before_anything_is_written(
    driver: CjAirDriver, cjair_tcp: CjAirHandle, max_open_ms: int
) -> None:
    frames_before = cjair_tcp.unit.state()["counters"]["frames_in"]
    with pytest.raises(ConfigError) as info:
        await driver.cap_open(max_open_ms)
    message = str(info.value)
    assert cjair_tcp.url in message and f"MAX_OPEN_MS={max_open_ms} " in message
    state = cjair_tcp.unit.state()
    assert state["holding"]["MAX_OPEN_MS"] == PROTECTION.max_open_ms
    assert state["counters"]["frames_in"] == frames_before


@pytest.mark.parametrize("max_open_ms", [1500.0, 1500.5, True])
async def test_a_cap_that_is_no_whole_number_of_ms_is_refused(
    driver: CjAirDriver, cjair_tcp: CjAirHandle, max_open_ms: object
) -> None:
    with pytest.raises(ConfigError, match="whole number"):
        await driver.cap_open(max_open_ms)  # type: ignore[arg-type]
    assert cjair_tcp.unit.state()["holding"]["MAX_OPEN_MS"] == PROTECTION.max_open_ms


async def test_an_open_held_past_the_cap_is_closed_by_the_unit_at_the_cap(
    driver: CjAirDriver, cjair_tcp: CjAirHandle
) -> None:
    """Zone after zone the cap is written at run time; the host never closes."""
    unit = cjair_tcp.unit
    for cap_ms in (700, 1200, 500):
        assert await driver.cap_open(cap_ms) == cap_ms
        await driver.open_valve()
        status = await until(
            driver, f"the unit's close at {cap_ms} ms",
            lambda s: "OPEN_CAP" in s.faults and not s.valve_commanded
            and s.valve_feedback is False,
            within_s=cap_ms / 1000 + 3.0,
        )
        assert status.watchdog_tripped is False and status.faults == {"OPEN_CAP"}
        opened, closed = unit.state()["valve_history"][-2:]
        assert (opened["open"], opened["why"]) == (True, "host")
        assert (closed["open"], closed["why"]) == (False, "fault:OPEN_CAP")
        held_s = closed["t_s"] - opened["t_s"]
        assert cap_ms / 1000 - ULP_S <= held_s <= cap_ms / 1000 + TICK_S, held_s
        # a fault reset clears the latch (the outlet is closed) and never reopens
        await driver.reset_faults()
        status = await until(driver, "OPEN_CAP cleared", lambda s: not s.faults, within_s=2.0)
        assert not status.valve_commanded
        assert unit.state()["valve_history"][-1] == closed


async def test_an_opening_shorter_than_the_cap_is_left_alone(
    driver: CjAirDriver, cjair_tcp: CjAirHandle
) -> None:
    assert await driver.cap_open(1500) == 1500
    for _ in range(3):  # the cap counts one continuous opening, not the sum of them
        await driver.open_valve()
        await until(driver, "open", lambda s: bool(s.valve_feedback), within_s=2.0)
        await asyncio.sleep(0.3)
        await driver.close_valve()
        await until(driver, "closed", lambda s: s.valve_feedback is False, within_s=2.0)
    status = await driver.read_status()
    assert status.faults == frozenset()
    assert [h["why"] for h in cjair_tcp.unit.state()["valve_history"]] == ["host"] * 6
