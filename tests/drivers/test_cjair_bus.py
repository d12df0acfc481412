"""The CJ-Air Modbus bus against a scripted peer on a real TCP socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import structlog.testing
from modbus_peer import ModbusPeer

from cryoctl.errors import DeviceRefused, DeviceTimeout, DeviceUnavailable
from drivers.cjair.bus import ModbusBus
from drivers.cjair.prio import Priority, PriorityLock
from drivers.url import parse_url

FC_READ_INPUT, FC_WRITE_COIL, FC_WRITE_REGISTER = 4, 5, 6


class StepClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


async def until(condition: Callable[[], bool], *, within_s: float = 2.0) -> None:
    """Wait for something the event loop has to deliver (an answer, a closed socket)."""
    for _ in range(int(within_s / 0.002)):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def peer() -> AsyncIterator[ModbusPeer]:
    p = ModbusPeer()
    await p.start()
    yield p
    await p.stop()


def make_bus(peer: ModbusPeer, clock: StepClock, **kw: int) -> tuple[ModbusBus, list[float]]:
    lost: list[float] = []
    bus = ModbusBus(
        parse_url(peer.url), clock=clock, timeout_ms=kw.pop("timeout_ms", 100),
        on_link_lost=lost.append, **kw,
    )
    return bus, lost


async def test_each_table_is_one_request(peer: ModbusPeer) -> None:
    peer.inputs = list(range(11))
    bus, _ = make_bus(peer, StepClock())
    await bus.open()
    assert await bus.read_inputs(11) == list(range(11))
    assert await bus.read_coils(5) == [False] * 5
    assert peer.functions() == [4, 1]
    await bus.aclose()


async def test_a_read_is_retried_after_a_missing_answer(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), read_retries=2)
    await bus.open()
    peer.silent = 1
    assert await bus.read_inputs(11) == [0] * 11
    assert peer.functions() == [FC_READ_INPUT, FC_READ_INPUT]
    assert bus.read_retries_used == 1
    await bus.aclose()


async def test_read_retries_are_bounded(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), read_retries=2)
    await bus.open()
    peer.silent = 10
    with structlog.testing.capture_logs() as logs, pytest.raises(DeviceTimeout) as info:
        await bus.read_inputs(11)
    assert peer.functions() == [FC_READ_INPUT] * 3
    assert str(info.value).startswith(peer.url)
    dumps = [e for e in logs if e["event"] == "frame trace"]
    assert len(dumps) == 1 and dumps[0]["count"] == 3  # three requests, no answers
    assert all(" tx " in line for line in dumps[0]["frames"])
    await bus.aclose()


async def test_a_write_is_never_repeated(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), read_retries=5)
    await bus.open()
    peer.silent = 1
    with pytest.raises(DeviceTimeout):
        await bus.write_register(2, 7, name="HEARTBEAT")
    with pytest.raises(DeviceTimeout):
        peer.silent = 1
        await bus.write_coil(0, False, name="OUTLET_OPEN", priority=Priority.URGENT)
    assert peer.functions() == [FC_WRITE_REGISTER, FC_WRITE_COIL]
    await bus.aclose()


async def test_exception_answers_are_refusals_with_their_code(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), read_retries=3)
    await bus.open()
    peer.exception_code = 3
    with pytest.raises(DeviceRefused) as info:
        await bus.write_register(0, 12, name="AIRFLOW_LEVEL")
    assert info.value.code == 3 and "illegal data value" in str(info.value)
    peer.exception_code = 2
    with pytest.raises(DeviceRefused) as info:
        await bus.read_inputs(11)
    assert info.value.code == 2
    assert peer.functions() == [FC_WRITE_REGISTER, FC_READ_INPUT]  # a refusal is not retried
    await bus.aclose()


async def test_close_jumps_ahead_of_queued_polls(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), timeout_ms=500)
    await bus.open()
    peer.delay_s = 0.1
    polls = [asyncio.create_task(bus.read_inputs(11)) for _ in range(4)]
    await until(lambda: len(peer.history) == 1)  # the first poll is on the wire, three wait
    await bus.write_coil(0, False, name="OUTLET_OPEN", priority=Priority.URGENT)
    await asyncio.gather(*polls)
    assert peer.functions() == [4, 5, 4, 4, 4]
    await bus.aclose()


async def test_lost_link_reconnects_after_back_off(peer: ModbusPeer) -> None:
    clock = StepClock()
    bus, lost = make_bus(peer, clock, reconnect_min_ms=250, reconnect_max_ms=1000)
    await bus.open()
    port = peer.port
    await peer.stop()
    await until(lambda: not bus.connected)
    with pytest.raises(DeviceUnavailable, match="link down"):
        await bus.read_inputs(11)
    assert lost == [clock.now_s]
    # before the back-off has passed, polls fail at once without touching the wire
    clock.now_s += 0.125
    with pytest.raises(DeviceUnavailable, match="next attempt in 125 ms"):
        await bus.read_inputs(11)
    # after it, one attempt; the peer is still down, so the back-off doubles to 500 ms
    clock.now_s += 0.125
    with pytest.raises(DeviceUnavailable, match="cannot open the link"):
        await bus.read_inputs(11)
    clock.now_s += 0.25
    with pytest.raises(DeviceUnavailable, match="next attempt in 250 ms"):
        await bus.read_inputs(11)
    await peer.start(port)
    clock.now_s += 0.25
    assert await bus.read_inputs(11) == [0] * 11
    assert bus.reconnects == 1 and len(lost) == 1
    await bus.aclose()


async def test_urgent_write_does_not_wait_for_the_back_off(peer: ModbusPeer) -> None:
    clock = StepClock()
    bus, _ = make_bus(peer, clock, reconnect_min_ms=5000, reconnect_max_ms=5000)
    await bus.open()
    peer.drop_connections()
    await until(lambda: not bus.connected)
    with pytest.raises(DeviceUnavailable):
        await bus.read_coils(5)
    await bus.write_coil(0, False, name="OUTLET_OPEN", priority=Priority.URGENT)
    assert peer.functions()[-1] == FC_WRITE_COIL
    await bus.aclose()


async def test_unreachable_port_is_one_line_naming_the_url() -> None:
    free = ModbusPeer()
    await free.start()
    url = free.url
    await free.stop()
    bus = ModbusBus(parse_url(url), clock=StepClock(), timeout_ms=100)
    with pytest.raises(DeviceUnavailable) as info:
        await bus.open()
    assert str(info.value).startswith(f"{url}: cannot open the link")
    assert "\n" not in str(info.value)
    await bus.aclose()


async def test_rtu_port_that_does_not_exist() -> None:
    bus = ModbusBus(
        parse_url("modbus+rtu:///nonexistent/ttyX?baud=19200"), clock=StepClock(), timeout_ms=100
    )
    with pytest.raises(DeviceUnavailable, match=r"^modbus\+rtu:///nonexistent/ttyX"):
        await bus.open()
    await bus.aclose()


async def test_priority_lock_orders_waiters_and_survives_cancellation() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire(Priority.NORMAL)

    async def take(name: str, priority: Priority) -> None:
        await lock.acquire(priority)
        order.append(name)
        lock.release()

    tasks = [
        asyncio.create_task(take("poll1", Priority.NORMAL)),
        asyncio.create_task(take("poll2", Priority.NORMAL)),
        asyncio.create_task(take("gone", Priority.URGENT)),
        asyncio.create_task(take("close", Priority.URGENT)),
    ]
    await asyncio.sleep(0)
    assert lock.waiting == 4
    tasks[2].cancel()
    lock.release()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["close", "poll1", "poll2"]
    assert not lock.locked
    with pytest.raises(RuntimeError):
        lock.release()


async def test_the_trace_is_dumped_once_per_run_of_failures(peer: ModbusPeer) -> None:
    bus, _ = make_bus(peer, StepClock(), read_retries=0)
    await bus.open()
    peer.silent = 3
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(DeviceTimeout):
                await bus.read_coils(5)
        await bus.read_coils(5)
        peer.silent = 1
        with pytest.raises(DeviceTimeout):
            await bus.read_coils(5)
    events = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert events == ["frame trace", "request failed", "request failed", "frame trace"]
    assert bus.trace_dumps == 2
    await bus.aclose()
