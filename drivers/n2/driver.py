"""The N2 cryodestructor behind cryoctl's device port (ICD rev C, line protocol).

Lease renewal: :meth:`N2Driver.open_valve` sends one ``OPEN,<lease_ms>``. The
driver never renews a lease by itself; the core's control loop calls
``open_valve()`` on every cycle while it means to spray, and only while it is
healthy. At 50 Hz (20 ms) with the default 100 ms lease that is five renewals per
lease. When the loop stops calling, the unit closes the valve at the end of the
lease and says ``EV,LEASE``; nothing in the host can keep the valve open on its own.

Reads (ID, STAT) are retried a bounded number of times; writes are never repeated.
A lost link is reopened on the next call other than ``open_valve`` (an OPEN is
never the first thing sent on a reopened link), with exponential back-off on the
injected clock, and only if the same unit (model and serial) answers ``ID``; the
watchdog time and pressure set before are then written and checked again.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from cryoctl.errors import (
    ConfigError,
    ConfigMismatch,
    DeviceError,
    DeviceUnavailable,
    ProtocolError,
)
from cryoctl.port import (
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
from drivers.n2 import icd
from drivers.n2.codec import EventFrame, OkReply
from drivers.n2.events import device_event
from drivers.n2.link import N2Link
from drivers.n2.replies import IdReply, parse_echo_int, parse_id, parse_stat
from drivers.n2.status import status_from_stat
from drivers.trace import FrameTrace
from drivers.url import N2_SERIAL, N2_SOCKET, UnitAddress, parse_url

__all__ = ["CAPABILITIES", "N2Driver"]

_log = structlog.get_logger("drivers.n2")

CAPABILITIES = Capabilities(
    kind=DeviceKind.N2,
    expiry=Expiry.LEASE,
    nozzles=icd.NOZZLES,
    has_valve_feedback=False,
    has_skin_sensor=False,
    has_tip_sensor=True,
    has_outlet_sensor=False,
    has_pressure=True,
    has_dewar_level=True,
    has_airflow=False,
    has_cooler=False,
    nozzle_flow_g_s_at_50kpa=dict(icd.NOZZLE_FLOW_G_S_AT_50KPA),
)

#: Heartbeat sequence numbers run 0..HB_SEQ_MODULUS-1.
HB_SEQ_MODULUS = 10_000


class N2Driver:
    """One N2 unit on ``n2+serial://`` or ``n2+socket://``. Implements DevicePort."""

    def __init__(
        self,
        address: UnitAddress,
        *,
        clock: Callable[[], float],
        timeout_ms: int = 100,
        turn_timeout_ms: int = 500,
        open_timeout_ms: int = 2000,
        read_retries: int = 1,
        timeouts_before_lost: int = 3,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 2.0,
    ) -> None:
        if timeout_ms <= 0 or turn_timeout_ms <= 0 or open_timeout_ms <= 0:
            raise ConfigError("N2 driver timeouts must be positive")
        if read_retries < 0 or timeouts_before_lost < 1:
            raise ConfigError("read_retries must be >= 0 and timeouts_before_lost >= 1")
        self._address = address
        self._url = address.url
        self._clock = clock
        self._timeout_ms = timeout_ms
        self._turn_timeout_ms = turn_timeout_ms
        self._open_timeout_ms = open_timeout_ms
        self._read_retries = read_retries
        self._timeouts_before_lost = timeouts_before_lost
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self.trace = FrameTrace(link=address.url)
        self._link = N2Link(
            address.serial_for_url_target(),
            url=address.url,
            clock=clock,
            trace=self.trace,
            on_event=self._on_event,
            on_lost=self._on_lost,
            baud=address.baud or icd.BAUD,
        )
        self._sinks: list[EventSink] = []
        self._unit: IdReply | None = None
        self._lease_ms: int | None = None
        self._watchdog_ms: int | None = None
        self._pressure_kpa: int | None = None
        self._hb_seq = 0
        self._timeouts_in_a_row = 0
        self._link_lost_told = False
        self._backoff_s = reconnect_min_s
        self._next_reconnect_s = float("-inf")
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float]) -> N2Driver:
        return cls(parse_url(url, schemes=(N2_SERIAL, N2_SOCKET)), clock=clock)

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def lease_ms(self) -> int | None:
        """The lease every OPEN asks for, once :meth:`configure` has set it."""
        return self._lease_ms

    # -- the link ---------------------------------------------------------------

    async def _request(
        self,
        command: str,
        *args: str | int,
        urgent: bool = False,
        retries: int = 0,
        reconnect: bool = True,
    ) -> tuple[OkReply, float]:
        """One exchange on the link, reopening it first if it was lost and ``reconnect``."""
        if reconnect:
            await self._ensure_link()
        elif not self._link.is_open:
            raise DeviceUnavailable(f"{self._url}: link is down; {command} not sent")
        return await self._call(command, *args, urgent=urgent, retries=retries)

    async def _call(
        self, command: str, *args: str | int, urgent: bool = False, retries: int = 0
    ) -> tuple[OkReply, float]:
        """One exchange; ``retries`` > 0 only for reads, never for writes."""
        attempt = 0
        while True:
            try:
                reply = await self._link.request(
                    command,
                    *args,
                    timeout_ms=self._timeout_ms,
                    turn_timeout_ms=self._turn_timeout_ms,
                    urgent=urgent,
                )
            except DeviceError as exc:
                self._note_failure(exc)
                if attempt >= retries or isinstance(exc, DeviceUnavailable):
                    raise
                attempt += 1
                _log.info("n2 read retried", url=self._url, command=command, reason=str(exc))
                continue
            self._timeouts_in_a_row = 0
            self._link_lost_told = False
            return reply

    def _note_failure(self, exc: DeviceError) -> None:
        if not isinstance(exc, TimeoutError):
            return
        self._timeouts_in_a_row += 1
        if self._timeouts_in_a_row >= self._timeouts_before_lost and not self._link_lost_told:
            self._link_lost_told = True
            self._emit(DeviceEvent(kind=EventKind.LINK_LOST, at_s=self._clock(), value=None))

    async def _ensure_link(self) -> None:
        if self._link.is_open:
            return
        if self._closed:
            raise DeviceUnavailable(f"{self._url}: closed (connect() to use it again)")
        if self._unit is None:
            raise DeviceUnavailable(f"{self._url}: not connected (connect() first)")
        now = self._clock()
        if now < self._next_reconnect_s:
            raise DeviceUnavailable(
                f"{self._url}: link down, next reconnect attempt in "
                f"{self._next_reconnect_s - now:.2f} s"
            )
        try:
            await self._link.open(timeout_ms=self._open_timeout_ms)
            unit = await self._identify()
            if (unit.model, unit.serial) != (self._unit.model, self._unit.serial):
                raise DeviceUnavailable(
                    f"{self._url}: a different unit answered ({unit.model} {unit.serial}, "
                    f"expected {self._unit.model} {self._unit.serial})"
                )
            await self._restore()
        except DeviceError as exc:
            await self._link.aclose()
            self._next_reconnect_s = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2.0, self._reconnect_max_s)
            raise DeviceUnavailable(f"{self._url}: reconnect failed: {exc}") from exc
        self._backoff_s = self._reconnect_min_s
        _log.info("n2 link reconnected", url=self._url)

    async def _restore(self) -> None:
        """After a reconnect, write again what the host had set (the unit may have restarted)."""
        if self._watchdog_ms is not None:
            await self._write_checked(icd.CMD_WDT, self._watchdog_ms)
        if self._pressure_kpa is not None:
            await self._write_checked(icd.CMD_PRESS, self._pressure_kpa)

    async def _identify(self) -> IdReply:
        reply, _ = await self._call(icd.CMD_ID, retries=self._read_retries)
        return parse_id(reply)

    async def _write_checked(self, command: str, value: int) -> int:
        """Send ``command,value`` and check the echo, which is the unit's read-back."""
        reply, _ = await self._call(command, value)
        echoed = parse_echo_int(reply, command)
        if echoed != value:
            raise ConfigMismatch(f"{self._url}: wrote {command},{value}, unit read back {echoed}")
        return echoed

    # -- DevicePort ------------------------------------------------------------------

    async def connect(self) -> Identity:
        self._closed = False
        await self._link.open(timeout_ms=self._open_timeout_ms)
        try:
            unit = await self._identify()
        except DeviceError:
            await self._link.aclose()
            raise
        self._unit = unit
        return Identity(model=unit.model, serial=unit.serial, firmware=unit.firmware, url=self._url)

    async def configure(self, protection: Protection) -> Protection:
        watchdog_ms = protection.watchdog_ms
        lease_ms = protection.lease_ms
        if not icd.WDT_MIN_MS <= watchdog_ms <= icd.WDT_MAX_MS:
            raise ConfigError(
                f"watchdog_ms={watchdog_ms} is outside {icd.WDT_MIN_MS}..{icd.WDT_MAX_MS}"
            )
        if lease_ms is None or not icd.LEASE_MIN_MS <= lease_ms <= icd.LEASE_MAX_MS:
            raise ConfigError(
                f"lease_ms={lease_ms} is outside {icd.LEASE_MIN_MS}..{icd.LEASE_MAX_MS}"
            )
        if protection.max_open_ms is not None:
            raise ConfigError("max_open_ms is a CJ-Air setting; the N2 unit closes on its lease")
        await self._ensure_link()
        read_back = await self._write_checked(icd.CMD_WDT, watchdog_ms)
        self._watchdog_ms = read_back
        self._lease_ms = lease_ms
        await self._request(icd.CMD_RESET)
        return Protection(watchdog_ms=read_back, lease_ms=lease_ms)

    async def apply(self, settings: DeviceSettings) -> None:
        for name in ("airflow_level", "outlet_temp_c", "cooler_on"):
            if getattr(settings, name) is not None:
                raise ConfigError(f"{name} is a CJ-Air setting; the N2 unit has none")
        if settings.pressure_kpa is None:
            return
        pressure_kpa = round(settings.pressure_kpa)
        if pressure_kpa != settings.pressure_kpa or not (
            icd.PRESS_MIN_KPA <= pressure_kpa <= icd.PRESS_MAX_KPA
        ):
            raise ConfigError(
                f"pressure_kpa={settings.pressure_kpa} is not a whole number in "
                f"{icd.PRESS_MIN_KPA}..{icd.PRESS_MAX_KPA}"
            )
        await self._ensure_link()
        self._pressure_kpa = await self._write_checked(icd.CMD_PRESS, pressure_kpa)

    async def heartbeat(self) -> None:
        seq = self._hb_seq
        self._hb_seq = (seq + 1) % HB_SEQ_MODULUS
        reply, _ = await self._request(icd.CMD_HB, seq)
        echoed = parse_echo_int(reply, icd.CMD_HB)
        if echoed != seq:
            raise ProtocolError(f"{self._url}: HB,{seq} answered with HB,{echoed}")

    async def read_status(self) -> Status:
        reply, at_s = await self._request(icd.CMD_STAT, retries=self._read_retries)
        return status_from_stat(parse_stat(reply), read_at_s=at_s)

    async def open_valve(self) -> None:
        lease_ms = self._lease_ms
        if lease_ms is None:
            raise ConfigError(f"{self._url}: no lease configured (configure() first)")
        # Never the first act on a reopened link: the core reads the unit again first.
        reply, _ = await self._request(icd.CMD_OPEN, lease_ms, reconnect=False)
        echoed = parse_echo_int(reply, icd.CMD_OPEN)
        if echoed != lease_ms:
            await self.close_valve()
            raise ConfigMismatch(
                f"{self._url}: OPEN,{lease_ms} answered with lease {echoed}; valve closed"
            )

    async def close_valve(self) -> None:
        await self._request(icd.CMD_CLOSE, urgent=True)

    async def reset_faults(self) -> None:
        await self._request(icd.CMD_RESET)

    async def reset_estop(self) -> None:
        # The ICD has one RESET for both latches; it never opens the valve.
        await self._request(icd.CMD_RESET)

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def aclose(self) -> None:
        self._closed = True
        if self._link.is_open:
            try:
                await self._link.request(
                    icd.CMD_CLOSE,
                    timeout_ms=self._timeout_ms,
                    turn_timeout_ms=self._turn_timeout_ms,
                    urgent=True,
                )
            except DeviceError as exc:
                _log.warning("n2 close before release failed", url=self._url, reason=str(exc))
        await self._link.aclose()

    # -- events ------------------------------------------------------------------------

    def _on_event(self, frame: EventFrame, at_s: float) -> None:
        event = device_event(frame, at_s=at_s, url=self._url)
        if event is not None:
            self._emit(event)

    def _on_lost(self, reason: str) -> None:
        _log.warning("n2 link lost", url=self._url, reason=reason)
        self._link_lost_told = True
        self._emit(DeviceEvent(kind=EventKind.LINK_LOST, at_s=self._clock(), value=None))

    def _emit(self, event: DeviceEvent) -> None:
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:
                # A sink's bug must not stop the reader that serves the next answer.
                _log.exception("n2 event sink failed", url=self._url, kind=str(event.kind))
