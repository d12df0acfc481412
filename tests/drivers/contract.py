"""The driver contract: one suite, run over every simulated unit and its real transport.

``unit`` is parametrised over the simulator's fixtures (Modbus TCP and RTU on a pty
for the CJ-Air; TCP and a pty for the N2); the adapter in contract_kinds.py says what
differs between the kinds. The port is opened through the core's registry, by URL,
exactly as the daemon opens it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from contract_kinds import TARGETS, UnitKind

from cryoctl.control.registry import open_unit
from cryoctl.core.port import DeviceEvent, DevicePort, EventKind, Status
from cryoctl.errors import ConfigError, DeviceError, DeviceRefused

#: how long the contract waits for the unit to show a change it was asked for
SETTLE_S = 2.0
POLL_S = 0.02


@dataclass
class Harness:
    name: str
    handle: Any
    kind: UnitKind
    port: DevicePort
    events: list[DeviceEvent] = field(default_factory=list)

    @property
    def port_url(self) -> str:
        return TARGETS[self.name].url(self.handle.url)

    @property
    def sim(self) -> Any:
        return self.handle.unit

    async def start(self, *, short: bool = False) -> None:
        await self.port.connect()
        await self.port.configure(self.kind.short_watchdog if short else self.kind.protection)

    async def until(
        self, what: str, pred: Callable[[Status], bool], *, within_s: float = SETTLE_S,
        feed: bool = True, reset: bool = False,
    ) -> Status:
        """Poll (feeding the watchdog, pressing fault reset if asked) until ``pred`` holds."""
        deadline = time.monotonic() + within_s
        status = None
        while time.monotonic() < deadline:
            if feed:
                await self.port.heartbeat()
            if reset:
                await self.port.reset_faults()
            status = await self.port.read_status()
            if pred(status):
                return status
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"{self.name}: {what} not seen within {within_s} s; last {status}")

    def kinds_of_events(self) -> list[EventKind]:
        return [e.kind for e in self.events]


@pytest.fixture(params=list(TARGETS))
async def unit(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    handle = request.getfixturevalue(request.param)
    target = TARGETS[request.param]
    port = open_unit(target.url(handle.url), clock=time.monotonic)
    harness = Harness(name=request.param, handle=handle, kind=target.kind, port=port)
    port.subscribe(harness.events.append)
    try:
        yield harness
    finally:
        await port.aclose()


async def test_identity(unit: Harness) -> None:
    identity = await unit.port.connect()
    assert identity.url == unit.port_url
    assert identity.model and identity.firmware
    caps = unit.port.capabilities
    assert (caps.kind, caps.expiry) == (unit.kind.device_kind, unit.kind.expiry)
    assert caps.nozzles == unit.kind.present_nozzles and unit.kind.nozzle in caps.nozzles


async def test_configure_reads_back(unit: Harness) -> None:
    await unit.port.connect()
    for protection in (unit.kind.short_watchdog, unit.kind.protection):
        assert await unit.port.configure(protection) == protection
    await unit.port.apply(unit.kind.settings)
    status = await unit.port.read_status()
    assert not status.watchdog_tripped and not status.valve_commanded


async def test_status_fields_and_units(unit: Harness) -> None:
    await unit.start()
    unit.sim.set_o2(20.4)
    unit.sim.set_nozzle(unit.kind.nozzle)
    if unit.port.capabilities.has_skin_sensor:
        unit.sim.set_skin(True)
    before_s = time.monotonic()
    status = await unit.until("O2 20.4 % and the nozzle", lambda s: (
        s.o2_pct == pytest.approx(20.4) and s.nozzle == unit.kind.nozzle))
    assert before_s <= status.read_at_s <= time.monotonic()
    for name in unit.kind.present:
        assert getattr(status, name) is not None, name
    for name in unit.kind.absent:
        assert getattr(status, name) is None, name
    for name in ("outlet_temp_c", "tip_temp_c", "skin_temp_c"):  # degC, not tenths
        value = getattr(status, name)
        assert value is None or -200.0 <= value <= 100.0, (name, value)
    for name in ("o2_pct", "dewar_level_pct"):
        value = getattr(status, name)
        assert value is None or 0.0 <= value <= 100.0, (name, value)
    assert status.faults == frozenset() and status.fault_bits == 0 and not status.faulted
    unit.sim.set_nozzle(None)
    assert (await unit.until("no nozzle", lambda s: s.nozzle is None)).nozzle is None


async def test_each_status_dates_its_field_groups(unit: Harness) -> None:
    """The fast group is read by the call itself; the valve read-back and the telemetry
    are no older than the kind allows, and none of the three is from after the call."""
    await unit.start()
    lag_s = {"valve_at_s": unit.kind.valve_lag_s, "telemetry_at_s": unit.kind.telemetry_lag_s}
    for i in range(60):  # about 1.5 s at the core's 50 Hz, heartbeats at 10 Hz
        if i % 5 == 0:
            await unit.port.heartbeat()
        if i == 20:
            await unit.port.open_valve()
        if i == 40:
            await unit.port.close_valve()
        before_s = time.monotonic()
        status = await unit.port.read_status()
        after_s = time.monotonic()
        assert before_s <= status.read_at_s <= after_s
        for name, lag in lag_s.items():
            at_s = getattr(status, name)
            assert at_s <= after_s, (name, status)
            assert status.read_at_s - at_s <= lag, (name, status.read_at_s - at_s)
            if lag == 0.0:  # one answer holds every field
                assert at_s == status.read_at_s, (name, status)
        await asyncio.sleep(POLL_S)


async def test_the_heartbeat_echo_follows_the_heartbeats(unit: Harness) -> None:
    await unit.start()
    taken = unit.kind.heartbeat_taken
    if taken is None:
        assert (await unit.port.read_status()).heartbeat_echo is None
        return
    echoes = []
    for _ in range(5):
        await unit.port.heartbeat()
        written_s = time.monotonic()
        value = taken(unit.handle)

        def read_after(s: Status, after_s: float = written_s) -> bool:
            return s.telemetry_at_s > after_s

        status = await unit.until("input registers read after the heartbeat", read_after,
                                  feed=False)
        assert status.heartbeat_echo == value
        echoes.append(value)
    assert len(set(echoes)) == 5


async def test_cap_open_sets_the_units_own_cap_or_is_refused(unit: Harness) -> None:
    await unit.start()
    if not unit.kind.caps_open:
        with pytest.raises(ConfigError) as info:
            await unit.port.cap_open(700)
        assert unit.port_url in str(info.value)
        return
    assert await unit.port.cap_open(700) == 700
    await unit.port.open_valve()
    await unit.until("valve open", lambda s: s.valve_commanded)
    status = await unit.until(
        "the unit's own close at the cap", lambda s: "OPEN_CAP" in s.faults, within_s=0.7 + 2.0
    )
    assert status.fault_bits & unit.kind.fault_bits["OPEN_CAP"]
    status = await unit.until("valve closed", lambda s: not s.valve_commanded)
    opened, closed = unit.sim.state()["valve_history"][-2:]
    assert (opened["open"], closed["open"], closed["why"]) == (True, False, "fault:OPEN_CAP")
    # on the unit's own clock, at the cap (within its 50 ms tick)
    assert closed["t_s"] - opened["t_s"] == pytest.approx(0.7, abs=0.05)


async def test_trigger_is_seen_in_status_and_as_events(unit: Harness) -> None:
    await unit.start()
    # a baseline first: a trigger already held when the host starts is not a new press
    assert not (await unit.port.read_status()).trigger
    unit.sim.set_trigger(True)
    await unit.until("trigger pressed", lambda s: s.trigger)
    unit.sim.set_trigger(False)
    await unit.until("trigger released", lambda s: not s.trigger)
    triggers = [e.value for e in unit.events if e.kind is EventKind.TRIGGER]
    assert triggers[:1] == [True] and triggers[-1] is False


async def test_open_and_close(unit: Harness) -> None:
    await unit.start()
    await unit.port.open_valve()
    opened = await unit.until("valve open", lambda s: s.valve_commanded)
    if opened.valve_feedback is not None:
        await unit.until("valve feedback open", lambda s: bool(s.valve_feedback))
    await unit.port.close_valve()
    status = await unit.until("valve closed", lambda s: not s.valve_commanded)
    assert not status.faulted


async def test_unit_closes_an_unattended_valve_by_itself(unit: Harness) -> None:
    """N2: the lease runs out; CJ-Air: MAX_OPEN_MS caps one opening (OPEN_CAP)."""
    await unit.port.connect()
    await unit.port.configure(unit.kind.expiry_protection)
    await unit.port.open_valve()
    await unit.until("valve open", lambda s: s.valve_commanded)
    status = await unit.until(
        "the unit's own close", lambda s: not s.valve_commanded,
        within_s=unit.kind.expiry_s + 1.0,
    )
    if unit.kind.expiry.value == "lease":
        await unit.until("lease event", lambda s: EventKind.LEASE_EXPIRED in unit.kinds_of_events())
        assert not status.faulted
    else:
        status = await unit.until("OPEN_CAP", lambda s: "OPEN_CAP" in s.faults)
        assert status.fault_bits & unit.kind.fault_bits["OPEN_CAP"]


async def test_heartbeat_loss_trips_the_watchdog(unit: Harness) -> None:
    await unit.start(short=True)
    assert unit.kind.short_watchdog.watchdog_ms == 200
    await unit.port.open_valve()
    await unit.until("valve open", lambda s: s.valve_commanded)
    await asyncio.sleep(0.5)  # no command at all for 2.5 watchdog periods
    status = await unit.port.read_status()
    assert status.watchdog_tripped and "WATCHDOG" in status.faults
    assert not status.valve_commanded
    await unit.port.heartbeat()
    await unit.port.reset_faults()
    status = await unit.until("watchdog cleared", lambda s: not s.watchdog_tripped)
    assert "WATCHDOG" not in status.faults


async def _fault_round(unit: Harness, name: str, *, within_s: float = SETTLE_S) -> None:
    """Inject ``name``'s cause, see it as the port's fault with the valve closed, clear it."""
    bit = unit.kind.fault_bits[name]
    if name in unit.kind.needs_open:
        await unit.port.open_valve()
        await unit.until("valve open", lambda s: s.valve_commanded)
    unit.sim.set_fault(name, True)
    status = await unit.until(f"fault {name}", lambda s: name in s.faults, within_s=within_s)
    assert status.fault_bits & bit and status.faulted, name
    status = await unit.until(f"valve closed by {name}", lambda s: not s.valve_commanded)
    unit.sim.set_fault(name, False)
    await unit.port.close_valve()
    await unit.until(f"{name} cleared", lambda s: name not in s.faults, reset=True)


async def test_every_fault_bit_surfaces_as_the_ports_fault(unit: Harness) -> None:
    await unit.start()
    quick = [name for name in unit.kind.fault_bits if name not in unit.kind.slow_faults]
    for name in quick:
        await _fault_round(unit, name)
    faults = [e.value for e in unit.events if e.kind is EventKind.FAULT]
    assert set(quick) <= {n for n, b in unit.kind.fault_bits.items() for v in faults
                          if isinstance(v, int) and v & b}


SLOW = [name for name, t in TARGETS.items() if t.kind.slow_faults]
#: simulated seconds per real second for the slow faults (COOLER: 120 s -> 2 s)
SLOW_SPEED = 60.0


@pytest.fixture(params=SLOW)
async def fast_unit(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    target = TARGETS[request.param]
    factory = request.getfixturevalue(target.factory)
    handle = factory(transport=target.transport, speed=SLOW_SPEED)
    port = open_unit(target.url(handle.url), clock=time.monotonic)
    harness = Harness(name=request.param, handle=handle, kind=target.kind, port=port)
    port.subscribe(harness.events.append)
    try:
        yield harness
    finally:
        await port.aclose()


async def test_slow_fault_bits_surface_too(fast_unit: Harness) -> None:
    """Faults that need unit time (CJ-Air COOLER: 120 s), on a unit whose clock runs fast."""
    unit = fast_unit
    await unit.port.connect()
    # the longest watchdog the ICDs allow, so heartbeats keep up with the fast clock
    await unit.port.configure(dataclasses.replace(unit.kind.protection, watchdog_ms=5000))
    for name, (unit_s, settings) in unit.kind.slow_faults.items():
        await unit.port.apply(settings)
        await _fault_round(unit, name, within_s=unit_s / SLOW_SPEED + SETTLE_S)


async def test_estop_latches_and_reset_never_reopens(unit: Harness) -> None:
    await unit.start()
    await unit.port.open_valve()
    await unit.until("valve open", lambda s: s.valve_commanded)
    unit.sim.set_estop(True)
    status = await unit.until("e-stop latched", lambda s: s.estop_latched)
    assert not status.valve_commanded
    await unit.port.reset_estop()  # the button is still pressed: the latch holds
    await asyncio.sleep(0.05)
    assert (await unit.port.read_status()).estop_latched
    unit.sim.set_estop(False)
    await asyncio.sleep(0.05)
    assert (await unit.port.read_status()).estop_latched  # released but not reset
    await unit.port.reset_estop()
    status = await unit.until("e-stop cleared", lambda s: not s.estop_latched)
    assert not status.valve_commanded
    estops = [e.value for e in unit.events if e.kind is EventKind.ESTOP]
    assert estops[:1] == [True] and estops[-1] is False


async def test_refusals_carry_the_units_code(unit: Harness) -> None:
    await unit.start()
    with pytest.raises(DeviceRefused) as info:
        await unit.kind.provoke_refusal(unit.port, unit.handle)
    assert info.value.code == unit.kind.refusal_code
    assert unit.port_url in str(info.value) and "\n" not in str(info.value)
    status = await unit.port.read_status()  # the link is still good
    assert not status.valve_commanded


async def test_link_loss_and_reconnect(unit: Harness) -> None:
    await unit.start()
    unit.sim.set_fault("drop_all", True)
    with pytest.raises(DeviceError) as info:
        for _ in range(10):
            await unit.port.read_status()
    assert unit.port_url in str(info.value)
    unit.sim.set_fault("drop_all", False)
    deadline = time.monotonic() + 10.0
    while True:
        try:
            status = await unit.port.read_status()
            break
        except DeviceError:
            assert time.monotonic() < deadline, "no reconnect within 10 s"
            await asyncio.sleep(0.05)
    assert status.read_at_s > 0
    await unit.port.heartbeat()
