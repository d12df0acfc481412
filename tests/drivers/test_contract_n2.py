"""The device-port contract for the N2 driver, against the simulated unit over TCP and a pty.

Each test drives the real driver through a real transport (``n2+socket://`` on
127.0.0.1, ``n2+serial://`` on a pty) and works the simulated unit's controls
the way a person at the device would: trigger, e-stop, nozzle, dewar, oxygen,
and injected faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cryoctl.core.port import (
    DeviceEvent,
    DeviceKind,
    DevicePort,
    DeviceSettings,
    EventKind,
    Expiry,
    Protection,
    Status,
)
from cryoctl.errors import (
    ConfigError,
    DeviceRefused,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
)
from drivers.n2.driver import N2Driver
from drivers.url import parse_url
from simulator.n2.unit import N2Config

PROTECTION = Protection(watchdog_ms=500, lease_ms=100)
#: How long the tests wait for something the unit does on its own.
SETTLE_S = 1.5


@dataclass
class Events:
    """Everything the driver handed to its sink, in order, with a way to wait for one."""

    seen: list[DeviceEvent] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: DeviceEvent) -> None:
        self.seen.append(event)
        self._arrived.set()

    async def wait_for(
        self, kind: EventKind, value: Any = ..., *, timeout_s: float = SETTLE_S
    ) -> DeviceEvent:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.seen:
                if event.kind is kind and (value is ... or event.value == value):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {value!r} event; saw {self.seen}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                continue


@dataclass
class Bench:
    handle: Any
    driver: N2Driver
    events: Events

    @property
    def unit(self) -> Any:
        return self.handle.unit


async def until(
    read: Callable[[], Any], check: Callable[[Any], bool], *, timeout_s: float = SETTLE_S
) -> Any:
    """Poll ``read`` (sync or async) until ``check`` holds; return the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if asyncio.iscoroutine(value):
            value = await value
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held; last value {value!r}")
        await asyncio.sleep(0.02)


@pytest.fixture(params=["n2_tcp", "n2_pty"])
async def bench(request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    handle = request.getfixturevalue(request.param)
    driver = N2Driver.from_url(handle.url, clock=time.monotonic)
    events = Events()
    driver.subscribe(events)
    await driver.connect()
    yield Bench(handle=handle, driver=driver, events=events)
    await driver.aclose()


@pytest.fixture
async def armed(bench: Bench) -> Bench:
    await bench.driver.configure(PROTECTION)
    return bench


async def test_identity_and_capabilities(bench: Bench) -> None:
    driver = bench.driver
    assert isinstance(driver, DevicePort)
    ident = await driver.connect()  # connecting again re-identifies on the open link
    config = bench.unit.config
    assert (ident.model, ident.serial, ident.firmware) == (config.model, config.serial, config.fw)
    assert ident.url == bench.handle.url
    caps = driver.capabilities
    assert (caps.kind, caps.expiry) == (DeviceKind.N2, Expiry.LEASE)
    assert set(caps.nozzle_flow_g_s_at_50kpa) == set(caps.nozzles)


@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_configure_reads_back_and_clears_power_on_watchdog(
    n2_factory: Callable[..., Any], transport: str
) -> None:
    # The unit's watchdog runs from power-on (here its shortest, 100 ms): let it trip
    # before the host speaks.
    handle = n2_factory(transport, config=N2Config(wdt_ms=100))
    driver = N2Driver.from_url(handle.url, clock=time.monotonic)
    try:
        await driver.connect()
        await until(handle.unit.state, lambda s: "WATCHDOG" in s["fault_names"])
        assert (await driver.read_status()).watchdog_tripped
        got = await driver.configure(PROTECTION)
        assert got == PROTECTION
        assert handle.unit.state()["wdt_ms"] == 500
        status = await driver.read_status()
        assert not status.watchdog_tripped and status.fault_bits == 0
    finally:
        await driver.aclose()


async def test_status_fields_and_units(armed: Bench) -> None:
    unit = armed.unit
    unit.set_o2(20.4)
    unit.set_level(42.0)
    unit.set_nozzle("C")
    await armed.driver.apply(DeviceSettings(pressure_kpa=80))
    assert unit.state()["setpoint_kpa"] == 80
    before = time.monotonic()
    status = await armed.driver.read_status()
    assert before <= status.read_at_s <= time.monotonic()
    assert status.o2_pct == pytest.approx(20.4, abs=0.1)
    assert status.dewar_level_pct == pytest.approx(42.0, abs=1.0)
    assert status.nozzle == "C"
    assert status.valve_feedback is None
    assert status.tip_temp_c == pytest.approx(unit.state()["tip_c"], abs=0.2)
    assert 20.0 <= (status.pressure_kpa or 0.0) <= 150.0
    assert status.skin_temp_c is None and status.airflow_level is None
    unit.set_nozzle(None)
    await armed.events.wait_for(EventKind.NOZZLE, None)
    assert (await armed.driver.read_status()).nozzle is None


async def test_cap_open_is_refused_and_nothing_reaches_the_unit(armed: Bench) -> None:
    """The N2 has no MAX_OPEN_MS: each OPEN's lease caps it, so the call is a mistake."""
    frames_before = armed.unit.state()["counters"]["frames_in"]
    with pytest.raises(ConfigError) as info:
        await armed.driver.cap_open(20500)
    assert armed.handle.url in str(info.value)
    assert armed.unit.state()["counters"]["frames_in"] == frames_before
    await armed.driver.open_valve()  # and the lease still does its work
    await armed.events.wait_for(EventKind.LEASE_EXPIRED)


async def test_status_times_are_all_the_stat_read_time(armed: Bench) -> None:
    for _ in range(20):
        before = time.monotonic()
        status = await armed.driver.read_status()
        assert before <= status.read_at_s <= time.monotonic()
        assert status.valve_at_s == status.telemetry_at_s == status.read_at_s
        assert status.heartbeat_echo is None
        await armed.driver.heartbeat()
        await asyncio.sleep(0.01)


async def test_open_and_close(armed: Bench) -> None:
    await armed.driver.open_valve()
    assert (await armed.driver.read_status()).valve_commanded
    await armed.driver.close_valve()
    assert not (await armed.driver.read_status()).valve_commanded
    assert not armed.unit.state()["valve_open"]


async def test_lease_expires_without_renewal(armed: Bench) -> None:
    await armed.driver.open_valve()
    event = await armed.events.wait_for(EventKind.LEASE_EXPIRED)
    status = await armed.driver.read_status()
    assert not status.valve_commanded
    assert event.at_s <= status.read_at_s
    history = armed.unit.state()["valve_history"]
    assert history[-1]["why"] == "lease"
    assert history[-1]["t_s"] - history[-2]["t_s"] == pytest.approx(0.1, abs=0.05)


async def test_renewing_every_control_period_keeps_the_valve_open(armed: Bench) -> None:
    period_s = 0.02  # the core's 50 Hz loop: five renewals per 100 ms lease
    next_at = time.monotonic()
    for _ in range(25):
        await armed.driver.open_valve()
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    assert armed.unit.state()["valve_open"]
    assert not [e for e in armed.events.seen if e.kind is EventKind.LEASE_EXPIRED]
    await armed.events.wait_for(EventKind.LEASE_EXPIRED)  # and it ends when the calls stop


async def test_heartbeat_loss_trips_the_watchdog(armed: Bench) -> None:
    await armed.driver.configure(Protection(watchdog_ms=150, lease_ms=100))
    for _ in range(3):
        await armed.driver.heartbeat()
        await asyncio.sleep(0.05)
    assert not (await armed.driver.read_status()).watchdog_tripped
    event = await armed.events.wait_for(EventKind.FAULT)
    assert isinstance(event.value, int) and event.value & 0x0001
    status = await armed.driver.read_status()
    assert status.watchdog_tripped and "WATCHDOG" in status.faults
    with pytest.raises(DeviceRefused) as refused:
        await armed.driver.open_valve()
    assert refused.value.code == "ILK"
    await armed.driver.reset_faults()
    assert not (await armed.driver.read_status()).watchdog_tripped


@pytest.mark.parametrize(
    ("name", "bit", "make"),
    [
        ("LEVEL_EMPTY", 1, lambda unit: unit.set_level(3.0)),
        ("OVERPRESSURE", 2, lambda unit: unit.set_fault("OVERPRESSURE", True)),
        ("VALVE_MISMATCH", 3, lambda unit: unit.set_fault("VALVE_MISMATCH", True)),
        ("TIP_SENSOR", 4, lambda unit: unit.set_fault("TIP_SENSOR", True)),
        ("NOZZLE_LOST", 5, lambda unit: unit.set_nozzle(None)),
        ("O2_LOW", 6, lambda unit: unit.set_o2(19.0)),
    ],
)
async def test_every_fault_bit_surfaces(
    armed: Bench, name: str, bit: int, make: Callable[[Any], None]
) -> None:
    if name in ("NOZZLE_LOST", "VALVE_MISMATCH"):
        await armed.driver.open_valve()  # these need the valve open
    make(armed.unit)
    event = await armed.events.wait_for(EventKind.FAULT, timeout_s=3.0)
    assert isinstance(event.value, int)
    await armed.driver.heartbeat()
    status: Status = await until(armed.driver.read_status, lambda s: s.fault_bits & (1 << bit))
    assert name in status.faults and status.faulted
    if name != "VALVE_MISMATCH":  # a stuck valve is the one that cannot close
        assert not status.valve_commanded  # every latched fault closes the valve
    with pytest.raises(DeviceRefused) as refused:
        await armed.driver.open_valve()
    assert refused.value.code == "ILK"


async def test_estop_latches_and_reset_never_opens(armed: Bench) -> None:
    await armed.driver.open_valve()
    armed.unit.set_estop(True)
    await armed.events.wait_for(EventKind.ESTOP, True)
    status = await armed.driver.read_status()
    assert status.estop_latched and not status.valve_commanded
    with pytest.raises(DeviceRefused) as refused:
        await armed.driver.open_valve()
    assert refused.value.code == "ILK"
    await armed.driver.reset_estop()  # button still pressed: stays latched
    assert (await armed.driver.read_status()).estop_latched
    armed.unit.set_estop(False)
    await armed.driver.reset_estop()
    await armed.events.wait_for(EventKind.ESTOP, False)
    status = await armed.driver.read_status()
    assert not status.estop_latched and not status.valve_commanded
    await armed.driver.open_valve()  # a new, deliberate open works again
    await armed.driver.close_valve()


async def test_trigger_events_arrive_without_polling(armed: Bench) -> None:
    started = time.monotonic()
    armed.unit.set_trigger(True)
    event = await armed.events.wait_for(EventKind.TRIGGER, True)
    assert event.at_s - started < 0.1
    armed.unit.set_trigger(False)
    await armed.events.wait_for(EventKind.TRIGGER, False)
    assert (await armed.driver.read_status()).trigger is False


async def test_error_codes_and_exceptions(armed: Bench) -> None:
    unit = armed.unit
    unit.set_fault("drop_all", True)
    with pytest.raises(DeviceTimeout):
        await armed.driver.read_status()
    unit.set_fault("drop_all", False)
    await armed.driver.heartbeat()
    unit.set_fault("corrupt", True, 1.0)
    with pytest.raises(ProtocolError):
        await armed.driver.heartbeat()
    unit.set_fault("corrupt", False)
    await armed.driver.heartbeat()
    unit.set_estop(True)
    with pytest.raises(DeviceRefused) as refused:
        await armed.driver.open_valve()
    assert refused.value.code == "ILK"


async def test_silent_link_is_told_once_and_recovers(armed: Bench) -> None:
    armed.unit.set_fault("drop_all", True)
    for _ in range(3):
        with pytest.raises(DeviceTimeout):
            await armed.driver.heartbeat()
    lost = [e for e in armed.events.seen if e.kind is EventKind.LINK_LOST]
    assert len(lost) == 1
    armed.unit.set_fault("drop_all", False)
    await armed.driver.heartbeat()
    await armed.driver.reset_faults()
    assert not (await armed.driver.read_status()).faulted


class _Cable:
    """A TCP pass-through between driver and unit that a test can cut, like a pulled cable."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"n2+socket://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self._target)
        self._writers += [down_w, up_w]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):  # the cable was cut
                while data := await src.read(4096):
                    dst.write(data)
            dst.close()

        await asyncio.gather(pump(down_r, up_w), pump(up_r, down_w))

    async def cut(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0.05)

    async def aclose(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_link_loss_and_reconnect(n2_tcp: Any) -> None:
    cable = _Cable(n2_tcp.host, n2_tcp.port)
    url = await cable.start()
    driver = N2Driver(parse_url(url), clock=time.monotonic)
    events = Events()
    driver.subscribe(events)
    try:
        await driver.connect()
        await driver.configure(PROTECTION)
        await driver.open_valve()
        await cable.cut()
        await events.wait_for(EventKind.LINK_LOST)
        with pytest.raises(DeviceUnavailable):
            await driver.open_valve()  # an open is never the first act on a new link
        await until(n2_tcp.unit.state, lambda s: not s["valve_open"])  # the lease closed it
        status = await driver.read_status()  # reconnects, re-identifies, writes WDT again
        assert not status.valve_commanded
        assert n2_tcp.unit.state()["wdt_ms"] == PROTECTION.watchdog_ms
    finally:
        await driver.aclose()
        await cable.aclose()


async def test_a_new_driver_gets_the_line_right_after_the_old_one_closed(n2_tcp: Any) -> None:
    for _ in range(3):
        first = N2Driver.from_url(n2_tcp.url, clock=time.monotonic)
        try:
            await first.connect()
            await first.read_status()
        finally:
            await first.aclose()
        again = N2Driver.from_url(n2_tcp.url, clock=time.monotonic)  # no pause in between
        try:
            await again.connect()
            status = await again.read_status()
            assert not status.valve_commanded
        finally:
            await again.aclose()
