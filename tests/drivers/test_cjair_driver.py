"""CjAirDriver against a scripted Modbus TCP peer: start-up recipe, polling plan, events."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from modbus_peer import ModbusPeer

from cryoctl.core.port import DeviceEvent, DevicePort, DeviceSettings, EventKind, Protection
from cryoctl.errors import AddressError, ConfigError, ConfigMismatch, DeviceTimeout
from drivers.cjair.driver import CjAirDriver

FC_COILS, FC_DISCRETES, FC_HOLDING, FC_INPUTS = 1, 2, 3, 4
FC_COIL, FC_REGISTER, FC_REGISTERS = 5, 6, 16


class StepClock:
    def __init__(self) -> None:
        self.now_s = 50.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def peer() -> AsyncIterator[ModbusPeer]:
    p = ModbusPeer()
    p.inputs = [0x0102, 0, 0xFED4, 0x8000, 0, 1, 209, 41, 0, 0, 7]
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def driver(peer: ModbusPeer) -> AsyncIterator[CjAirDriver]:
    d = CjAirDriver.from_url(peer.url, clock=StepClock(), timeout_ms=100)
    yield d
    await d.aclose()


def written(peer: ModbusPeer, fc: int) -> list[tuple[int, bytes]]:
    return [(r.address, r.payload) for r in peer.history if r.function_code == fc]


async def test_is_a_device_port(driver: CjAirDriver) -> None:
    assert isinstance(driver, DevicePort)
    assert driver.capabilities.nozzles == ("S6", "R10", "F20", "C30")


def test_from_url_refuses_other_schemes() -> None:
    with pytest.raises(AddressError, match="unknown scheme 'n2\\+socket'"):
        CjAirDriver.from_url("n2+socket://127.0.0.1:1", clock=StepClock())


async def test_connect_identifies_the_unit(driver: CjAirDriver, peer: ModbusPeer) -> None:
    identity = await driver.connect()
    assert (identity.model, identity.firmware, identity.url) == ("CJ-Air", "1.2", peer.url)
    assert peer.functions() == [FC_INPUTS]


async def test_configure_follows_the_icd_start_up(driver: CjAirDriver, peer: ModbusPeer) -> None:
    await driver.connect()
    got = await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    assert got == Protection(watchdog_ms=400, max_open_ms=15000)
    assert peer.functions()[1:] == [
        FC_REGISTERS, FC_HOLDING, FC_REGISTER, FC_COIL, FC_COILS, FC_DISCRETES
    ]
    assert written(peer, FC_REGISTERS) == [(3, struct.pack(">HBHH", 2, 4, 400, 15000))]
    # the first heartbeat differs from the unit's last one (echo 41)
    assert written(peer, FC_REGISTER) == [(2, struct.pack(">H", 42))]
    assert written(peer, FC_COIL) == [(2, b"\xff\x00")]  # FAULT_RESET


async def test_read_back_mismatch_refuses_to_arm(driver: CjAirDriver, peer: ModbusPeer) -> None:
    peer.sticky_holdings = frozenset({4})
    await driver.connect()
    with pytest.raises(ConfigMismatch, match="MAX_OPEN_MS wrote 15000, read back 20000"):
        await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    assert FC_COIL not in peer.functions()  # no FAULT_RESET after a mismatch


async def test_cap_open_writes_max_open_ms_and_reads_it_back(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    await driver.connect()
    peer.history.clear()
    assert await driver.cap_open(12500) == 12500
    assert peer.functions() == [FC_REGISTER, FC_HOLDING]
    assert written(peer, FC_REGISTER) == [(4, struct.pack(">H", 12500))]
    assert peer.holdings[4] == 12500


async def test_cap_open_that_reads_back_otherwise_is_a_mismatch(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    """A unit that keeps its old cap (or another) must not be armed on the new one."""
    await driver.connect()
    await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    peer.sticky_holdings = frozenset({4})
    with pytest.raises(ConfigMismatch) as info:
        await driver.cap_open(9500)
    message = str(info.value)
    assert peer.url in message and "MAX_OPEN_MS wrote 9500, read back 15000" in message
    peer.holdings[4] = 0xFFFF  # a unit answering a value no host wrote
    with pytest.raises(ConfigMismatch, match="MAX_OPEN_MS wrote 9500, read back 65535"):
        await driver.cap_open(9500)


async def test_outlet_open_at_start_up_refuses_to_arm(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    peer.coils[0] = True
    await driver.connect()
    with pytest.raises(ConfigMismatch, match="outlet not closed at start-up"):
        await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    assert peer.coils[0] is False  # and it was closed


async def test_a_close_still_travelling_at_start_up_is_waited_for(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    """OUTLET_OPEN reads 0 but the feedback still 1 (a close written just before): the
    ICD gives the valve 100 ms to follow, so start-up waits for it instead of refusing."""
    peer.discretes[3] = True
    asyncio.get_running_loop().call_later(0.04, peer.discretes.__setitem__, 3, False)
    await driver.connect()
    got = await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    assert got == Protection(watchdog_ms=400, max_open_ms=15000)
    assert peer.functions().count(FC_DISCRETES) >= 2


async def test_a_feedback_that_stays_open_past_the_travel_time_refuses_to_arm(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    peer.discretes[3] = True
    await driver.connect()
    started = asyncio.get_running_loop().time()
    with pytest.raises(ConfigMismatch, match="OUTLET_OPEN=0, OUTLET_OPEN_FB=1"):
        await driver.configure(Protection(watchdog_ms=400, max_open_ms=15000))
    assert asyncio.get_running_loop().time() - started >= 0.1


@pytest.mark.parametrize(
    "protection",
    [
        Protection(watchdog_ms=50, max_open_ms=15000),
        Protection(watchdog_ms=400, max_open_ms=70000),
        Protection(watchdog_ms=400),
        Protection(watchdog_ms=400, max_open_ms=15000, lease_ms=200),
    ],
)
async def test_bad_protection_is_refused_before_writing(
    driver: CjAirDriver, peer: ModbusPeer, protection: Protection
) -> None:
    await driver.connect()
    with pytest.raises(ConfigError):
        await driver.configure(protection)
    assert peer.functions() == [FC_INPUTS]


async def test_apply_writes_set_points(driver: CjAirDriver, peer: ModbusPeer) -> None:
    await driver.connect()
    await driver.apply(DeviceSettings(airflow_level=5, outlet_temp_c=-45.0, cooler_on=True))
    assert peer.holdings[:2] == [5, (-450) & 0xFFFF]
    assert peer.coils[1] is True
    for bad in (DeviceSettings(airflow_level=10), DeviceSettings(outlet_temp_c=-10.0),
                DeviceSettings(pressure_kpa=50.0)):
        with pytest.raises(ConfigError):
            await driver.apply(bad)


async def test_heartbeat_changes_every_time(driver: CjAirDriver, peer: ModbusPeer) -> None:
    await driver.connect()
    for _ in range(3):
        await driver.heartbeat()
    assert [struct.unpack(">H", p)[0] for _, p in written(peer, FC_REGISTER)] == [42, 43, 44]


async def test_slow_tables_are_polled_less_often_than_inputs(peer: ModbusPeer) -> None:
    clock = StepClock()
    driver = CjAirDriver.from_url(peer.url, clock=clock, telemetry_period_ms=100)
    await driver.connect()
    peer.history.clear()
    stamps = []
    for _ in range(10):  # 10 polls at 50 Hz = 200 ms
        stamps.append((await driver.read_status()).read_at_s)
        clock.now_s += 0.020
    assert stamps[0] == 50.0 and stamps[-1] == pytest.approx(50.18)
    fcs = peer.functions()
    assert fcs.count(FC_DISCRETES) == 10
    # connect read the input registers at 50.00; the polls read them again at 50.10 only;
    # the coils at the first poll and at 50.10
    assert fcs.count(FC_INPUTS) == 1 and fcs.count(FC_COILS) == 2
    assert fcs[:2] == [FC_DISCRETES, FC_COILS]
    await driver.aclose()


def polls(peer: ModbusPeer) -> list[list[int]]:
    """The function codes of each poll (each begins with its discrete-input read)."""
    out: list[list[int]] = []
    for fc in peer.functions():
        if fc == FC_DISCRETES or not out:
            out.append([])
        out[-1].append(fc)
    return out


async def test_steady_polls_never_read_both_slow_tables_at_once(peer: ModbusPeer) -> None:
    """At 19200 baud a tick has room for one slow table: the coil read waits a poll."""
    clock = StepClock()
    driver = CjAirDriver.from_url(peer.url, clock=clock, telemetry_period_ms=200)
    await driver.connect()
    await driver.read_status()
    peer.history.clear()
    for _ in range(100):  # 2 s at 50 Hz
        clock.now_s += 0.020
        status = await driver.read_status()
        assert status.read_at_s - status.telemetry_at_s < 0.2  # never a tick late
        assert status.read_at_s - status.valve_at_s < 0.3
    seen = polls(peer)
    assert not [p for p in seen if FC_COILS in p and FC_INPUTS in p]
    assert 9 <= sum(FC_INPUTS in p for p in seen) <= 10
    assert 9 <= sum(FC_COILS in p for p in seen) <= 10
    await driver.aclose()


async def test_after_a_long_gap_both_slow_tables_are_read(peer: ModbusPeer) -> None:
    clock = StepClock()
    driver = CjAirDriver.from_url(peer.url, clock=clock, telemetry_period_ms=200)
    await driver.connect()
    for _ in range(25):
        clock.now_s += 0.020
        await driver.read_status()
    peer.history.clear()
    clock.now_s += 1.0  # the loop stalled
    status = await driver.read_status()
    assert peer.functions() == [FC_DISCRETES, FC_COILS, FC_INPUTS]
    assert status.valve_at_s == status.telemetry_at_s == status.read_at_s == clock.now_s
    await driver.aclose()


async def test_the_outlet_coil_is_read_back_after_each_write(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    await driver.connect()
    assert not (await driver.read_status()).valve_commanded
    await driver.open_valve()
    peer.history.clear()
    assert (await driver.read_status()).valve_commanded
    assert (await driver.read_status()).valve_commanded
    assert peer.functions() == [FC_DISCRETES, FC_COILS, FC_DISCRETES]
    await driver.close_valve()
    assert not (await driver.read_status()).valve_commanded


async def test_an_interlock_input_change_rereads_the_outlet_coil(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    await driver.connect()
    await driver.open_valve()
    assert (await driver.read_status()).valve_commanded
    # the unit latches its e-stop and forces the outlet closed
    peer.discretes[0] = True
    peer.coils[0] = False
    peer.history.clear()
    status = await driver.read_status()
    assert status.estop_latched and not status.valve_commanded
    assert peer.functions() == [FC_DISCRETES, FC_COILS]


async def test_fault_input_forces_fresh_fault_bits(driver: CjAirDriver, peer: ModbusPeer) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    await driver.read_status()
    peer.discretes[6] = True  # FAULT
    peer.inputs[1] = 1 << 4  # O2_LOW
    status = await driver.read_status()
    assert status.faults == {"O2_LOW"}
    assert [(e.kind, e.value) for e in events] == [(EventKind.FAULT, 16)]


async def test_changes_are_reported_as_events(driver: CjAirDriver, peer: ModbusPeer) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    await driver.read_status()
    peer.discretes[0] = peer.discretes[1] = True
    await driver.read_status()
    assert {(e.kind, e.value) for e in events} == {
        (EventKind.ESTOP, True), (EventKind.TRIGGER, True)
    }


async def test_link_loss_is_an_event(driver: CjAirDriver, peer: ModbusPeer) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    peer.drop_connections()
    for _ in range(1000):
        if not driver.bus.connected:
            break
        await asyncio.sleep(0.002)
    with pytest.raises(Exception, match="link down"):
        await driver.read_status()
    assert [e.kind for e in events] == [EventKind.LINK_LOST]


async def test_aclose_closes_the_outlet_first(driver: CjAirDriver, peer: ModbusPeer) -> None:
    await driver.connect()
    await driver.open_valve()
    assert peer.coils[0] is True
    await driver.aclose()
    assert peer.coils[0] is False
    assert peer.functions()[-2:] == [FC_COIL, FC_COIL]


async def test_a_poll_racing_a_close_then_shows_it_closed(
    driver: CjAirDriver, peer: ModbusPeer
) -> None:
    await driver.connect()
    await driver.open_valve()
    await driver.read_status()
    peer.discretes[3] = True  # feedback opens: the next poll reads the coil back
    peer.delay_s = 0.05
    peer.history.clear()
    poll = asyncio.create_task(driver.read_status())
    for _ in range(200):  # until the coil read is on the wire
        if FC_COILS in peer.functions():
            break
        await asyncio.sleep(0.002)
    await driver.close_valve()
    raced = await poll
    assert raced.valve_commanded  # read before the close reached the unit
    peer.delay_s = 0.0
    assert not (await driver.read_status()).valve_commanded


async def test_an_interlock_change_seen_by_a_failed_poll_is_acted_on_by_the_next(
    peer: ModbusPeer,
) -> None:
    driver = CjAirDriver.from_url(peer.url, clock=StepClock(), timeout_ms=50, read_retries=0)
    await driver.connect()
    await driver.open_valve()
    assert (await driver.read_status()).valve_commanded
    peer.discretes[0] = True  # e-stop: the unit forces the outlet closed
    peer.coils[0] = False
    peer.silent_for[FC_COILS] = 1  # the coil read that the change calls for goes unanswered
    with pytest.raises(DeviceTimeout):
        await driver.read_status()
    status = await driver.read_status()
    assert status.estop_latched and not status.valve_commanded
    await driver.aclose()
