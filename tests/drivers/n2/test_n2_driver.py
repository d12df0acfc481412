"""The N2 driver against a scripted peer on real TCP sockets and ptys.

These cover what the simulator does not do on purpose: answers out of order,
events between a command and its answer, garbage, silence, and CLOSE overtaking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from n2_scripted_peer import DEFAULT_STAT, ScriptedPeer
from structlog.testing import capture_logs

from cryoctl.core.port import (
    DeviceEvent,
    DeviceKind,
    DevicePort,
    DeviceSettings,
    EventKind,
    Expiry,
    Protection,
)
from cryoctl.errors import (
    AddressError,
    ConfigError,
    ConfigMismatch,
    DeviceRefused,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
)
from drivers.n2.driver import N2Driver
from drivers.url import parse_url

PROTECTION = Protection(watchdog_ms=500, lease_ms=100)


#: Tests whose subject is the transport run over both; the rest over a pty only, which
#: closes at once (pyserial's socket:// close sleeps 0.3 s on purpose).
BOTH = pytest.mark.parametrize("peer", ["tcp", "pty"], indirect=True)


@pytest.fixture
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ScriptedPeer, str]]:
    transport = getattr(request, "param", "pty")
    unit = ScriptedPeer()
    url = await unit.start_tcp() if transport == "tcp" else unit.start_pty()
    yield unit, url
    await unit.aclose()


@pytest.fixture
async def driver(peer: tuple[ScriptedPeer, str]) -> AsyncIterator[N2Driver]:
    _, url = peer
    drv = N2Driver.from_url(url, clock=time.monotonic)
    await drv.connect()
    yield drv
    await drv.aclose()


def _unit(peer: tuple[ScriptedPeer, str]) -> ScriptedPeer:
    return peer[0]


async def test_is_a_device_port_with_n2_capabilities(driver: N2Driver) -> None:
    assert isinstance(driver, DevicePort)
    caps = driver.capabilities
    assert caps.kind is DeviceKind.N2 and caps.expiry is Expiry.LEASE
    assert caps.nozzles == ("A", "B", "C", "D", "M", "P")
    assert caps.nozzle_flow_g_s_at_50kpa["M"] == 1.00
    assert caps.has_tip_sensor and caps.has_pressure and caps.has_dewar_level
    assert not (caps.has_valve_feedback or caps.has_skin_sensor or caps.has_airflow)


@BOTH
async def test_connect_identifies(peer: tuple[ScriptedPeer, str]) -> None:
    _, url = peer
    drv = N2Driver.from_url(url, clock=time.monotonic)
    ident = await drv.connect()
    await drv.aclose()
    assert (ident.model, ident.serial, ident.firmware, ident.url) == (
        "N2-CRYO",
        "SN0042",
        "1.3.0",
        url,
    )
    assert _unit(peer).names() == ["ID", "CLOSE"]


async def test_configure_writes_wdt_checks_echo_and_resets(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    assert await driver.configure(PROTECTION) == PROTECTION
    assert _unit(peer).received[-2:] == ["WDT,500", "RESET"]
    await driver.open_valve()
    assert _unit(peer).received[-1] == "OPEN,100"


@pytest.mark.parametrize(
    "protection",
    [
        Protection(watchdog_ms=99, lease_ms=100),
        Protection(watchdog_ms=5001, lease_ms=100),
        Protection(watchdog_ms=500, lease_ms=19),
        Protection(watchdog_ms=500, lease_ms=501),
        Protection(watchdog_ms=500, lease_ms=None),
        Protection(watchdog_ms=500, lease_ms=100, max_open_ms=1000),
    ],
)
async def test_configure_refuses_out_of_range_before_sending(
    driver: N2Driver, peer: tuple[ScriptedPeer, str], protection: Protection
) -> None:
    with pytest.raises(ConfigError):
        await driver.configure(protection)
    assert _unit(peer).names() == ["ID"]


async def test_wdt_read_back_mismatch_is_config_mismatch(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    _unit(peer).script["WDT"] = lambda body: ["OK,WDT,1000"]
    with pytest.raises(ConfigMismatch, match="WDT,500"):
        await driver.configure(PROTECTION)
    with pytest.raises(ConfigError):
        await driver.open_valve()  # no lease was accepted


async def test_apply_pressure_with_echo_and_range(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    await driver.apply(DeviceSettings(pressure_kpa=80))
    assert _unit(peer).received[-1] == "PRESS,80"
    for bad in (
        DeviceSettings(pressure_kpa=19),
        DeviceSettings(pressure_kpa=50.5),
        DeviceSettings(airflow_level=3),
    ):
        with pytest.raises(ConfigError):
            await driver.apply(bad)
    assert _unit(peer).received[-1] == "PRESS,80"
    _unit(peer).script["PRESS"] = lambda body: ["OK,PRESS,50"]
    with pytest.raises(ConfigMismatch):
        await driver.apply(DeviceSettings(pressure_kpa=90))


@BOTH
async def test_event_between_command_and_answer_reaches_sink_first(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    seen: list[DeviceEvent] = []
    driver.subscribe(seen.append)
    _unit(peer).script["STAT"] = lambda body: ["EV,TRIG,1", f"OK,STAT,{DEFAULT_STAT}"]
    status = await driver.read_status()
    assert [(e.kind, e.value) for e in seen] == [(EventKind.TRIGGER, True)]
    assert seen[0].at_s <= status.read_at_s
    assert status.nozzle == "A" and status.tip_temp_c == pytest.approx(-185.0)


@BOTH
async def test_unsolicited_event_is_delivered_without_any_call(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    got: asyncio.Queue[DeviceEvent] = asyncio.Queue()
    driver.subscribe(got.put_nowait)
    _unit(peer).send("EV,ESTOP,1")
    event = await asyncio.wait_for(got.get(), 1.0)
    assert (event.kind, event.value) == (EventKind.ESTOP, True)


async def test_stale_answer_is_skipped(driver: N2Driver, peer: tuple[ScriptedPeer, str]) -> None:
    _unit(peer).script["HB"] = lambda body: ["OK,STAT," + DEFAULT_STAT, "OK," + body]
    await driver.heartbeat()
    await driver.heartbeat()
    assert _unit(peer).received[-2:] == ["HB,0", "HB,1"]


async def test_wrong_heartbeat_echo_is_protocol_error(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    _unit(peer).script["HB"] = lambda body: ["OK,HB,9999"]
    with pytest.raises(ProtocolError):
        await driver.heartbeat()


@pytest.mark.parametrize(("answer", "code"), [("ER,OPEN,ILK", "ILK"), ("ER,?,CHK", "CHK")])
async def test_error_answers_are_device_refused_with_code(
    driver: N2Driver, peer: tuple[ScriptedPeer, str], answer: str, code: str
) -> None:
    await driver.configure(PROTECTION)
    _unit(peer).script["OPEN"] = lambda body: [answer]
    with pytest.raises(DeviceRefused) as caught:
        await driver.open_valve()
    assert caught.value.code == code
    assert _unit(peer).names().count("OPEN") == 1  # a write is never repeated


@BOTH
async def test_garbage_answer_is_protocol_error_and_dumps_trace(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    _unit(peer).script["HB"] = lambda body: None
    with capture_logs() as logs:
        task = asyncio.ensure_future(driver.heartbeat())
        await asyncio.sleep(0.02)
        _unit(peer).send_raw(b"$OK,HB,0*00\r\n")
        with pytest.raises(ProtocolError, match="bad checksum"):
            await task
    dumps = [entry for entry in logs if entry["event"] == "frame trace"]
    assert dumps and any("HB,0" in frame for frame in dumps[0]["frames"])


@BOTH
async def test_silence_is_timeout_reads_retried_once_writes_never(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    unit = _unit(peer)
    unit.script["STAT"] = lambda body: None
    unit.script["RESET"] = lambda body: None
    started = time.monotonic()
    with pytest.raises(DeviceTimeout):
        await driver.read_status()
    assert time.monotonic() - started < 1.0
    with pytest.raises(DeviceTimeout):
        await driver.reset_faults()
    assert unit.names().count("STAT") == 2
    assert unit.names().count("RESET") == 1


async def test_three_timeouts_in_a_row_tell_link_lost_once(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    seen: list[DeviceEvent] = []
    driver.subscribe(seen.append)
    _unit(peer).script["HB"] = lambda body: None
    for _ in range(4):
        with pytest.raises(DeviceTimeout):
            await driver.heartbeat()
    assert [e.kind for e in seen] == [EventKind.LINK_LOST]


@BOTH
async def test_close_overtakes_queued_commands(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    unit = _unit(peer)
    unit.delay_s["HB"] = 0.05
    first = asyncio.ensure_future(driver.heartbeat())
    await asyncio.sleep(0.01)
    queued = [asyncio.ensure_future(driver.read_status()) for _ in range(2)]
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(driver.close_valve())
    await asyncio.gather(first, closing, *queued)
    assert unit.names()[-4:] == ["HB", "CLOSE", "STAT", "STAT"]


@BOTH
async def test_aclose_sends_close(peer: tuple[ScriptedPeer, str]) -> None:
    _, url = peer
    drv = N2Driver.from_url(url, clock=time.monotonic)
    await drv.connect()
    await drv.aclose()
    assert _unit(peer).names()[-1] == "CLOSE"
    with pytest.raises(DeviceUnavailable):
        await drv.read_status()


def test_bad_urls_are_address_errors() -> None:
    for url in (
        "n2+socket://127.0.0.1",
        "modbus+tcp://h:1",
        "n2+serial://",
        "n2+serial:///x?y=1",
        "n2+serial:///dev/ttyACM0?parity=E",
    ):
        with pytest.raises(AddressError) as caught:
            N2Driver.from_url(url, clock=time.monotonic)
        assert "\n" not in str(caught.value)


async def test_port_that_cannot_be_opened_is_one_line_unavailable(tmp_path: object) -> None:
    url = "n2+serial:///nonexistent/ttyACM9?baud=115200"
    drv = N2Driver.from_url(url, clock=time.monotonic)
    with pytest.raises(DeviceUnavailable) as caught:
        await drv.connect()
    assert url in str(caught.value) and "\n" not in str(caught.value)


async def test_tcp_link_loss_reconnects_to_the_same_unit_only() -> None:
    unit = ScriptedPeer()
    url = await unit.start_tcp()
    now = [0.0]
    drv = N2Driver(parse_url(url), clock=lambda: now[0])
    seen: list[DeviceEvent] = []
    drv.subscribe(seen.append)
    try:
        await drv.connect()
        await drv.configure(PROTECTION)
        await unit.drop_connections()
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert [e.kind for e in seen] == [EventKind.LINK_LOST]
        await drv.heartbeat()  # reopens, checks ID, writes WDT again
        assert unit.received[-3:] == ["ID", "WDT,500", "HB,0"]
        await unit.drop_connections()
        await asyncio.sleep(0.05)
        unit.script["ID"] = lambda body: ["OK,ID,N2-CRYO,SN9999,1.3.0"]
        with pytest.raises(DeviceUnavailable, match="different unit"):
            await drv.heartbeat()
        with pytest.raises(DeviceUnavailable, match="next reconnect attempt"):
            await drv.heartbeat()  # back-off on the injected clock
        now[0] += 1.0
        unit.script.pop("ID")
        await drv.heartbeat()
    finally:
        await drv.aclose()
        await unit.aclose()


async def test_a_second_host_on_the_same_serial_line_is_refused() -> None:
    unit = ScriptedPeer()
    url = unit.start_pty()
    first = N2Driver.from_url(url, clock=time.monotonic)
    second = N2Driver.from_url(url, clock=time.monotonic)
    try:
        await first.connect()
        with pytest.raises(DeviceUnavailable) as caught:
            await second.connect()
        assert url in str(caught.value)
    finally:
        await first.aclose()
        await unit.aclose()


async def test_a_call_that_cannot_get_the_bus_times_out_and_leaves_it_usable() -> None:
    unit = ScriptedPeer()
    url = await unit.start_tcp()
    drv = N2Driver(parse_url(url), clock=time.monotonic, timeout_ms=400, turn_timeout_ms=50)
    try:
        await drv.connect()
        unit.delay_s["HB"] = 0.2
        slow = asyncio.ensure_future(drv.heartbeat())
        await asyncio.sleep(0.01)
        with pytest.raises(DeviceTimeout, match="bus busy"):
            await drv.read_status()
        await slow
        unit.delay_s.clear()
        assert (await drv.read_status()).nozzle == "A"
        assert unit.names() == ["ID", "HB", "STAT"]
    finally:
        await drv.aclose()
        await unit.aclose()


async def test_pty_hangup_is_link_lost_and_reconnect_backs_off() -> None:
    unit = ScriptedPeer()
    url = unit.start_pty()
    now = [0.0]
    drv = N2Driver(parse_url(url), clock=lambda: now[0])
    seen: list[DeviceEvent] = []
    drv.subscribe(seen.append)
    try:
        await drv.connect()
        await unit.aclose()  # the other end of the cable is gone
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert [e.kind for e in seen] == [EventKind.LINK_LOST]
        with pytest.raises(DeviceUnavailable, match="reconnect failed"):
            await drv.read_status()
        with pytest.raises(DeviceUnavailable, match=r"next reconnect attempt in 0\.10 s"):
            await drv.read_status()
        now[0] += 0.1
        with pytest.raises(DeviceUnavailable, match="reconnect failed"):
            await drv.read_status()
        with pytest.raises(DeviceUnavailable, match=r"next reconnect attempt in 0\.20 s"):
            await drv.close_valve()
    finally:
        await drv.aclose()


@BOTH
async def test_frames_are_traced_at_debug_level(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    with capture_logs() as logs:
        await driver.heartbeat()
    frames = [(e["direction"], e["frame"]) for e in logs if e["event"] == "frame"]
    assert frames == [("tx", "$HB,0*16\r\n"), ("rx", "$OK,HB,0*3E\r\n")]
    assert all(e["log_level"] == "debug" for e in logs if e["event"] == "frame")
    assert [f.frame for f in driver.trace.frames()][-2:] == ["$HB,0*16\r\n", "$OK,HB,0*3E\r\n"]


@BOTH
async def test_a_late_answer_never_looks_fresh(peer: tuple[ScriptedPeer, str]) -> None:
    unit, url = peer
    drv = N2Driver(parse_url(url), clock=time.monotonic, timeout_ms=60)
    try:
        await drv.connect()
        unit.delay_s["STAT"] = 0.09  # each answer comes after the deadline
        started = time.monotonic()
        # the retry takes the first STAT's late answer, stamped with the first send time
        status = await drv.read_status()
        assert status.read_at_s <= started + 0.01
        unit.delay_s.clear()
        await asyncio.sleep(0.15)  # the retry's own answer arrives late and is dropped
        before = time.monotonic()
        assert (await drv.read_status()).read_at_s >= before
    finally:
        await drv.aclose()


@BOTH
async def test_cap_open_is_refused_naming_the_url_and_sends_nothing(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    unit, url = peer
    sent = list(unit.received)
    for max_open_ms in (500, 20500, 60000):
        with pytest.raises(ConfigError) as info:
            await driver.cap_open(max_open_ms)
        assert url in str(info.value) and "lease" in str(info.value)
    assert unit.received == sent


@BOTH
async def test_every_field_group_is_dated_by_the_stat_answer(
    peer: tuple[ScriptedPeer, str],
) -> None:
    """One STAT line holds every field: all three times are the time it was read."""
    unit, url = peer
    drv = N2Driver(parse_url(url), clock=time.monotonic, timeout_ms=60)
    try:
        await drv.connect()
        unit.delay_s["STAT"] = 0.03
        before = time.monotonic()
        status = await drv.read_status()
        after = time.monotonic()
        assert before + 0.03 <= status.read_at_s <= after  # when the answer came
        assert status.valve_at_s == status.telemetry_at_s == status.read_at_s
        assert status.heartbeat_echo is None
        unit.delay_s["STAT"] = 0.09  # late: the retry takes the first answer
        started = time.monotonic()
        status = await drv.read_status()
        assert status.read_at_s <= started + 0.01  # dated by the first send
        assert status.valve_at_s == status.telemetry_at_s == status.read_at_s
    finally:
        await drv.aclose()


async def test_a_fragment_before_the_answer_does_not_spoil_it(
    driver: N2Driver, peer: tuple[ScriptedPeer, str]
) -> None:
    unit = _unit(peer)

    def answer(body: str) -> list[str]:
        unit.send_raw(b"\x00\x17$OK,ST")  # noise, then a line cut short by the next "$"
        return ["OK," + body]

    unit.script["HB"] = answer
    await driver.heartbeat()
    assert unit.names()[-1] == "HB"
