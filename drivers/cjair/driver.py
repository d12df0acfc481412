"""CjAirDriver: the core's DevicePort for the CJ-Air unit over Modbus RTU or TCP.

What each :meth:`read_status` reads is decided by :class:`~drivers.cjair.poller.
StatusPoller`: the discrete inputs every time, the coils and input registers when
``telemetry_period_ms`` old, when an input says they changed, and the coils after
every OUTLET_OPEN write. Each status dates its three groups by when each table was
read; the poller's docstring gives the bounds (input registers never older than
``telemetry_period_ms`` when the poll begins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog

from cryoctl.core.port import (
    Capabilities,
    DeviceEvent,
    DeviceKind,
    DeviceSettings,
    EventKind,
    EventSink,
    Expiry,
    Identity,
    Protection,
    Status,
)
from cryoctl.errors import ConfigError, ConfigMismatch, DeviceError
from drivers.cjair.bus import ModbusBus
from drivers.cjair.codec import (
    airflow_level_word,
    firmware_text,
    next_heartbeat,
    temp_setpoint_word,
)
from drivers.cjair.poller import StatusPoller
from drivers.cjair.prio import Priority
from drivers.cjair.registers import (
    COIL_BLOCK,
    DISCRETE_BLOCK,
    HOLDING_BLOCK,
    MAX_OPEN_MS_RANGE,
    MODEL,
    NOZZLE_CODES,
    VALVE_TRAVEL_MS,
    WATCHDOG_MS_RANGE,
    Coil,
    Discrete,
    Holding,
    Range,
)
from drivers.trace import FrameTrace
from drivers.url import MODBUS_RTU, MODBUS_TCP, UnitAddress, parse_url

__all__ = ["CAPABILITIES", "CjAirDriver"]

CAPABILITIES: Final = Capabilities(
    kind=DeviceKind.CJ_AIR,
    expiry=Expiry.COIL,
    nozzles=tuple(NOZZLE_CODES.values()),
    has_valve_feedback=True,
    has_skin_sensor=True,
    has_tip_sensor=False,
    has_outlet_sensor=True,
    has_pressure=False,
    has_dewar_level=False,
    has_airflow=True,
    has_cooler=True,
)

#: Heartbeat values remembered with their write times (10 s of them at 10 Hz).
_BEATS_KEPT = 100
#: The ICD has no serial-number register.
SERIAL_UNREPORTED: Final = "unreported"

#: How long start-up waits for OUTLET_OPEN_FB to follow a close it finds travelling
#: (the ICD's travel allowance plus one re-read), and how often it looks again.
_TRAVEL_WAIT_S: Final = VALVE_TRAVEL_MS / 1000 + 0.05
_TRAVEL_POLL_S: Final = 0.01

_log = structlog.get_logger("drivers.cjair")


class CjAirDriver:
    """One CJ-Air unit. Create with :meth:`from_url`; nothing is opened until :meth:`connect`."""

    def __init__(
        self,
        address: UnitAddress,
        *,
        clock: Callable[[], float],
        timeout_ms: int = 250,
        read_retries: int = 2,
        telemetry_period_ms: int = 200,
    ) -> None:
        self._bus = ModbusBus(
            address,
            clock=clock,
            timeout_ms=timeout_ms,
            read_retries=read_retries,
            on_link_lost=self._link_lost,
        )
        self._poller = StatusPoller(
            self._bus, clock=clock, slow_period_s=telemetry_period_ms / 1000
        )
        self._heartbeat = 0
        self._clock = clock
        #: When each recent heartbeat value was written (the unit echoes one of them).
        self._beats: dict[int, float] = {}
        self._last: Status | None = None
        self._sinks: list[EventSink] = []

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Callable[[], float],
        timeout_ms: int = 250,
        read_retries: int = 2,
        telemetry_period_ms: int = 200,
    ) -> CjAirDriver:
        """A driver for a ``modbus+tcp://`` or ``modbus+rtu://`` URL; AddressError if malformed."""
        return cls(
            parse_url(url, schemes=(MODBUS_TCP, MODBUS_RTU)),
            clock=clock,
            timeout_ms=timeout_ms,
            read_retries=read_retries,
            telemetry_period_ms=telemetry_period_ms,
        )

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def bus(self) -> ModbusBus:
        return self._bus

    @property
    def trace(self) -> FrameTrace:
        """The ring of the last frames on the link (the controller dumps it on a fault)."""
        return self._bus.trace

    @property
    def read_retries_used(self) -> int:
        return self._bus.read_retries_used

    # -- start-up ---------------------------------------------------------------

    async def connect(self) -> Identity:
        await self._bus.open()
        self._poller.forget()
        telemetry = await self._poller.telemetry()
        # Start the heartbeat from the unit's last value so the first write is new to it.
        self._heartbeat = telemetry.heartbeat_echo
        return Identity(
            model=MODEL,
            serial=SERIAL_UNREPORTED,
            firmware=firmware_text(telemetry.firmware_word),
            url=self._bus.url,
        )

    async def configure(self, protection: Protection) -> Protection:
        """The ICD's start-up: WATCHDOG_MS and MAX_OPEN_MS written and read back,
        a HEARTBEAT, FAULT_RESET, and the outlet confirmed closed."""
        if protection.max_open_ms is None:
            raise ConfigError(f"{self._bus.url}: the CJ-Air needs max_open_ms (MAX_OPEN_MS)")
        if protection.lease_ms is not None:
            raise ConfigError(f"{self._bus.url}: the CJ-Air has no lease (lease_ms must be None)")
        watchdog_ms = self._checked(WATCHDOG_MS_RANGE, protection.watchdog_ms)
        max_open_ms = self._checked(MAX_OPEN_MS_RANGE, protection.max_open_ms)
        await self._bus.write_registers(
            Holding.WATCHDOG_MS, [watchdog_ms, max_open_ms], name="WATCHDOG_MS,MAX_OPEN_MS"
        )
        holding = await self._bus.read_holdings(HOLDING_BLOCK)
        read_back = Protection(
            watchdog_ms=holding[Holding.WATCHDOG_MS], max_open_ms=holding[Holding.MAX_OPEN_MS]
        )
        wrong = [
            f"{name} wrote {wrote}, read back {read}"
            for name, wrote, read in (
                ("WATCHDOG_MS", watchdog_ms, read_back.watchdog_ms),
                ("MAX_OPEN_MS", max_open_ms, read_back.max_open_ms),
            )
            if wrote != read
        ]
        if wrong:
            raise self._refuse_to_arm("; ".join(wrong))
        await self.heartbeat()
        await self.reset_faults()
        await self._confirm_closed()
        _log.info("configured", url=self._bus.url, watchdog_ms=watchdog_ms, max_open_ms=max_open_ms)
        return read_back

    async def cap_open(self, max_open_ms: int) -> int:
        """Write MAX_OPEN_MS (the unit's cap on one continuous opening) and read it back.

        ConfigError (nothing written) for a value that is no whole number in
        500..60000; ConfigMismatch when the unit reads back anything else. The unit
        applies the cap to every opening from then on, also to one already running.
        """
        value = self._checked(MAX_OPEN_MS_RANGE, max_open_ms)
        await self._bus.write_register(Holding.MAX_OPEN_MS, value, name="MAX_OPEN_MS")
        read = (await self._bus.read_holdings(HOLDING_BLOCK))[Holding.MAX_OPEN_MS]
        if read != value:
            raise self._refuse_to_arm(f"MAX_OPEN_MS wrote {value}, read back {read}")
        _log.info("open cap set", url=self._bus.url, max_open_ms=value)
        return read

    def _checked(self, allowed: Range, value: object) -> int:
        """``value`` if it is a whole number inside ``allowed``, else ConfigError."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{self._bus.url}: {allowed.name}={value!r} is not a whole number of ms"
            )
        try:
            return allowed.check(value)
        except ValueError as exc:
            raise ConfigError(f"{self._bus.url}: {exc}") from None

    async def _confirm_closed(self) -> None:
        coils = await self._bus.read_coils(COIL_BLOCK)
        discretes = await self._bus.read_discretes(DISCRETE_BLOCK)
        commanded = coils[Coil.OUTLET_OPEN]
        feedback = discretes[Discrete.OUTLET_OPEN_FB]
        if feedback and not commanded:
            # A close written just before (the controller closes first on every connect
            # and reconnect, often while the outlet is still open) is travelling: the ICD
            # gives the feedback VALVE_TRAVEL_MS to follow. Refusing at once put every
            # link that came back within the unit's watchdog, mid-spray, into a latched
            # CONFIG_MISMATCH fault for a valve that was only still travelling (30 ms in
            # the simulator); see tests/integration, the short drop around a release.
            feedback = await self._feedback_still_open()
        if commanded or feedback:
            if commanded:
                await self.close_valve()
            raise self._refuse_to_arm(
                f"outlet not closed at start-up "
                f"(OUTLET_OPEN={int(commanded)}, OUTLET_OPEN_FB={int(feedback)})"
            )

    async def _feedback_still_open(self) -> bool:
        """Re-read OUTLET_OPEN_FB until it shows closed or the travel allowance is over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _TRAVEL_WAIT_S
        while True:
            await asyncio.sleep(_TRAVEL_POLL_S)
            discretes = await self._bus.read_discretes(DISCRETE_BLOCK)
            if not discretes[Discrete.OUTLET_OPEN_FB]:
                return False
            if loop.time() >= deadline:
                return True

    def _refuse_to_arm(self, reason: str) -> ConfigMismatch:
        message = f"{self._bus.url}: refusing to arm: {reason}"
        self._bus.trace.dump(_log, message)
        return ConfigMismatch(message)

    # -- commands -----------------------------------------------------------------

    async def apply(self, settings: DeviceSettings) -> None:
        if settings.pressure_kpa is not None:
            raise ConfigError(f"{self._bus.url}: the CJ-Air has no pressure set-point")
        try:
            level = (
                None if settings.airflow_level is None
                else airflow_level_word(settings.airflow_level)
            )
            setpoint = (
                None if settings.outlet_temp_c is None
                else temp_setpoint_word(settings.outlet_temp_c)
            )
        except ValueError as exc:
            raise ConfigError(f"{self._bus.url}: {exc}") from None
        if level is not None:
            await self._bus.write_register(Holding.AIRFLOW_LEVEL, level, name="AIRFLOW_LEVEL")
        if setpoint is not None:
            await self._bus.write_register(Holding.TEMP_SETPOINT, setpoint, name="TEMP_SETPOINT")
        if settings.cooler_on is not None:
            await self._bus.write_coil(Coil.COOLER_ON, settings.cooler_on, name="COOLER_ON")

    async def heartbeat(self) -> None:
        # Taken before the write, so two heartbeats in flight never carry the same value.
        value = self._heartbeat = next_heartbeat(self._heartbeat)
        written_at_s = self._clock()
        await self._bus.write_register(Holding.HEARTBEAT, value, name="HEARTBEAT")
        self._beats[value] = written_at_s
        if len(self._beats) > _BEATS_KEPT:
            del self._beats[next(iter(self._beats))]

    async def open_valve(self) -> None:
        await self._write_outlet(True, Priority.NORMAL)

    async def close_valve(self) -> None:
        await self._write_outlet(False, Priority.URGENT)

    async def _write_outlet(self, open_: bool, priority: Priority) -> None:
        try:
            await self._bus.write_coil(
                Coil.OUTLET_OPEN, open_, name="OUTLET_OPEN", priority=priority
            )
        finally:
            self._poller.outlet_written()  # answered or not, the coil is read back next

    async def reset_faults(self) -> None:
        await self._bus.write_coil(Coil.FAULT_RESET, True, name="FAULT_RESET")
        self._poller.forget()  # fault bits and the outlet may change: read them fresh

    async def reset_estop(self) -> None:
        await self._bus.write_coil(Coil.ESTOP_RESET, True, name="ESTOP_RESET")

    # -- status ---------------------------------------------------------------------

    async def read_status(self) -> Status:
        status = await self._poller.status()
        echo = status.heartbeat_echo
        echo_at_s = -float("inf") if echo is None else self._beats.get(echo, -float("inf"))
        status = status._replace(echo_at_s=echo_at_s)
        self._notice_changes(status)
        self._last = status
        return status

    # -- events -------------------------------------------------------------------

    def _link_lost(self, at_s: float) -> None:
        self._poller.forget()
        self._emit(DeviceEvent(EventKind.LINK_LOST, at_s))

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def _emit(self, event: DeviceEvent) -> None:
        for sink in self._sinks:
            try:
                sink(event)
            except Exception:  # one sink's bug must not stop the others or the poll
                _log.exception("event sink failed", url=self._bus.url, kind=event.kind.value)

    def _notice_changes(self, status: Status) -> None:
        last = self._last
        at_s = status.read_at_s
        was_latched = last.estop_latched if last is not None else False
        if was_latched != status.estop_latched:
            self._emit(DeviceEvent(EventKind.ESTOP, at_s, status.estop_latched))
        if last is not None and last.trigger != status.trigger:
            self._emit(DeviceEvent(EventKind.TRIGGER, at_s, status.trigger))
        if last is not None and last.nozzle != status.nozzle:
            self._emit(DeviceEvent(EventKind.NOZZLE, at_s, status.nozzle))
        if (last.fault_bits if last is not None else 0) != status.fault_bits:
            self._emit(DeviceEvent(EventKind.FAULT, at_s, status.fault_bits))

    # -- shutdown -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the outlet if the link allows it, then release the link."""
        try:
            if self._bus.connected:
                await self.close_valve()
        except DeviceError as exc:
            _log.warning("outlet not closed on shutdown", url=self._bus.url, error=str(exc))
        finally:
            await self._bus.aclose()
