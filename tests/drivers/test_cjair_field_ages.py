"""Each CJ-Air status dates its field groups by when the unit really answered them.

The driver runs against the simulated unit over Modbus TCP on 127.0.0.1, on a clock
the test moves (``TickClock``): it steps when told and otherwise adds a microsecond
on every reading, so two stamps are never equal and their order is the order of the
requests. What the unit answered is then the witness of when a table was read:

- HEARTBEAT_ECHO (input registers) is the last HEARTBEAT the unit took, so the echo a
  status carries names the heartbeat writes between which its input registers were
  really read, and ``telemetry_at_s`` must fall between the same writes;
- OUTLET_OPEN (coils) follows the host's writes, so ``valve_commanded`` names the
  writes between which the coils were read, and ``valve_at_s`` must fall between them.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from cryoctl.core.port import Protection, Status
from drivers.cjair.driver import CjAirDriver
from simulator.cjair.fixtures import CjAirHandle

TELEMETRY_PERIOD_MS = 200
PERIOD_S = TELEMETRY_PERIOD_MS / 1000
#: the poller may hold a coil read back this much longer to keep it off a telemetry poll
COIL_PERIOD_S = 1.5 * PERIOD_S
#: a watchdog and cap no test here comes near in real time
PROTECTION = Protection(watchdog_ms=5000, max_open_ms=60000)


class TickClock:
    """Monotonic seconds that step when told and tick 1 us on every reading."""

    def __init__(self) -> None:
        self._now_s = 100.0

    def __call__(self) -> float:
        self._now_s += 1e-6
        return self._now_s

    def step(self, dt_s: float) -> None:
        self._now_s += dt_s


@dataclass
class Writes:
    """What the host wrote, with the clock just before the write and just after its answer."""

    sent_s: list[float] = field(default_factory=list)
    done_s: list[float] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def add(self, sent_s: float, done_s: float, value: object) -> None:
        self.sent_s.append(sent_s)
        self.done_s.append(done_s)
        self.values.append(value)

    def between(self, at_s: float) -> tuple[float, float]:
        """The span a read stamped ``at_s`` must lie in for the value in force at ``at_s``."""
        i = bisect.bisect_right(self.done_s, at_s) - 1
        assert i >= 0, f"stamp {at_s} is before the first write"
        later = self.sent_s[i + 1] if i + 1 < len(self.sent_s) else float("inf")
        return self.done_s[i], later

    def in_force(self, at_s: float) -> object:
        """The value the unit held when a request sent at ``at_s`` reached it."""
        return self.values[bisect.bisect_right(self.done_s, at_s) - 1]


@dataclass
class Rig:
    handle: CjAirHandle
    clock: TickClock
    driver: CjAirDriver
    heartbeats: Writes = field(default_factory=Writes)
    outlet: Writes = field(default_factory=Writes)

    def unit_heartbeat(self) -> int:
        return int(self.handle.unit.state()["holding"]["HEARTBEAT"])

    async def heartbeat(self) -> int:
        sent_s = self.clock()
        await self.driver.heartbeat()
        done_s = self.clock()
        value = self.unit_heartbeat()
        self.heartbeats.add(sent_s, done_s, value)
        return value

    async def outlet_to(self, open_: bool) -> None:
        sent_s = self.clock()
        await (self.driver.open_valve() if open_ else self.driver.close_valve())
        self.outlet.add(sent_s, self.clock(), open_)

    async def status(self) -> tuple[float, Status, float]:
        before_s = self.clock()
        status = await self.driver.read_status()
        return before_s, status, self.clock()


@pytest.fixture
async def rig(cjair_factory: Callable[..., CjAirHandle]) -> AsyncIterator[Rig]:
    handle = cjair_factory(watchdog_ms=5000, max_open_ms=60000)
    clock = TickClock()
    driver = CjAirDriver.from_url(
        handle.url, clock=clock, telemetry_period_ms=TELEMETRY_PERIOD_MS
    )
    rig = Rig(handle, clock, driver)
    await driver.connect()
    sent_s = clock()
    await driver.configure(PROTECTION)  # writes a heartbeat and confirms the outlet closed
    done_s = clock()
    rig.heartbeats.add(sent_s, done_s, rig.unit_heartbeat())
    rig.outlet.add(sent_s, done_s, False)
    try:
        yield rig
    finally:
        await driver.aclose()


def check_ages(before_s: float, status: Status, after_s: float) -> None:
    """The bounds the poller promises for one status (see drivers/cjair/poller.py)."""
    assert before_s < status.read_at_s < after_s
    assert status.valve_at_s < after_s and status.telemetry_at_s < after_s
    # the input registers were read within one telemetry period before this poll began,
    assert status.read_at_s - status.telemetry_at_s < PERIOD_S, status
    # so when the status is returned they are at most that period plus the poll old
    assert after_s - status.telemetry_at_s < PERIOD_S + (after_s - before_s)
    assert status.read_at_s - status.valve_at_s < COIL_PERIOD_S, status


async def test_telemetry_is_read_when_due_even_after_a_long_gap(rig: Rig) -> None:
    """The gap the controller's loop may leave (a stall, a slow command) never lets a
    status return input registers older than the telemetry period."""
    for gap_s in [0.02] * 25 + [1.0] + [0.02] * 12 + [0.7, 0.02, 2.0, 0.02]:
        rig.clock.step(gap_s)
        check_ages(*await rig.status())


async def test_field_ages_stay_bounded_whatever_the_poll_rhythm(rig: Rig) -> None:
    rng = random.Random(20261201)
    gaps = [0.002, 0.007, 0.02, 0.02, 0.02, 0.05, 0.13, 0.199, 0.2, 0.201, 0.35, 0.9]
    for i in range(400):
        rig.clock.step(rng.choice(gaps))
        if i % 9 == 4:
            await rig.heartbeat()
        if i % 23 == 11:  # a write makes the next poll read the coil: it shifts the phase
            await rig.outlet_to(not rig.outlet.values[-1])
        check_ages(*await rig.status())


async def test_telemetry_at_s_is_when_the_input_registers_were_read(rig: Rig) -> None:
    rng = random.Random(7)
    seen_echoes = set()
    for i in range(300):
        rig.clock.step(rng.choice([0.004, 0.02, 0.02, 0.06, 0.15, 0.21, 0.5]))
        if i % 4 == 0:
            await rig.heartbeat()
        _, status, _ = await rig.status()
        low_s, high_s = rig.heartbeats.between(status.telemetry_at_s)
        assert low_s < status.telemetry_at_s < high_s
        assert status.heartbeat_echo == rig.heartbeats.in_force(status.telemetry_at_s), (
            f"echo {status.heartbeat_echo} read at {status.telemetry_at_s}; "
            f"writes {list(zip(rig.heartbeats.done_s, rig.heartbeats.values, strict=True))[-4:]}"
        )
        seen_echoes.add(status.heartbeat_echo)
    assert len(seen_echoes) > 30  # the echo really moved along with the writes


async def test_valve_at_s_is_when_the_coils_were_read(rig: Rig) -> None:
    rng = random.Random(11)
    for i in range(240):
        rig.clock.step(rng.choice([0.004, 0.02, 0.02, 0.06, 0.15, 0.21, 0.5]))
        if i % 5 == 0:
            await rig.heartbeat()
        if i % 7 == 3:
            await rig.outlet_to(not rig.outlet.values[-1])
        _, status, _ = await rig.status()
        low_s, high_s = rig.outlet.between(status.valve_at_s)
        assert low_s < status.valve_at_s < high_s
        assert status.valve_commanded is rig.outlet.in_force(status.valve_at_s), status
    assert len(rig.outlet.values) > 30


@pytest.mark.parametrize("open_", [True, False])
async def test_the_status_after_an_outlet_write_has_read_the_coil_again(
    rig: Rig, open_: bool
) -> None:
    if not open_:
        await rig.outlet_to(True)
    for _ in range(3):  # the coil read by age is now recent
        rig.clock.step(0.02)
        await rig.status()
    await rig.outlet_to(open_)
    written_s = rig.outlet.done_s[-1]
    rig.clock.step(0.02)
    _, status, _ = await rig.status()
    assert status.valve_at_s > written_s
    assert status.valve_commanded is open_


async def test_the_echo_follows_each_heartbeat_within_one_telemetry_period(rig: Rig) -> None:
    for _ in range(12):
        value = await rig.heartbeat()
        written_s = rig.heartbeats.done_s[-1]
        polls = []
        while True:
            rig.clock.step(0.02)
            _, status, _ = await rig.status()
            polls.append(status)
            if status.telemetry_at_s > written_s:
                break
            assert status.heartbeat_echo != value  # read before the write: the last one
        # the first status whose input registers were read after the write carries it,
        assert status.heartbeat_echo == value
        # and one comes within the telemetry period (plus the poll that reads it)
        assert status.read_at_s - written_s < PERIOD_S + 0.02 + 1e-3, polls
