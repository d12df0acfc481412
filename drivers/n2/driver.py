"""The N2 cryodestructor behind cryoctl's device port (ICD rev C, line protocol).

Lease renewal: :meth:`N2Driver.open_valve` sends one ``OPEN,<lease_ms>``. The
driver never renews a lease by itself; the core's control loop calls
``open_valve()`` on every cycle while it means to spray, and only while it is
healthy. At 50 Hz (20 ms) with a 100 ms lease that is five renewals per
lease. When the loop stops calling, the unit closes the valve at the end of the
lease and says ``EV,LEASE``; nothing in the host can keep the valve open on its own.

Reads (ID, STAT) are retried a bounded number of times; writes are never repeated.
A lost link is reopened on the next call other than ``open_valve`` (an OPEN is
never the first thing sent on a reopened link), with back-off, to the same unit
only (see :mod:`drivers.n2.session`); the watchdog time and pressure set before
are then written and checked again.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from cryoctl.core.port import (
    Capabilities,
    DeviceEvent,
    DeviceKind,
    DeviceSettings,
    EventSink,
    Expiry,
    Identity,
    Protection,
    Status,
)
from cryoctl.errors import (
    AddressError,
    ConfigError,
    ConfigMismatch,
    ProtocolError,
)
from drivers.n2 import icd
from drivers.n2.codec import EventFrame
from drivers.n2.events import device_event
from drivers.n2.replies import parse_echo_int, parse_stat
from drivers.n2.session import N2Session
from drivers.n2.status import status_from_stat
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
        self._url = address.url
        self._session = N2Session(
            address,
            clock=clock,
            on_event=self._on_event,
            emit=self._emit,
            timeout_ms=timeout_ms,
            turn_timeout_ms=turn_timeout_ms,
            open_timeout_ms=open_timeout_ms,
            read_retries=read_retries,
            timeouts_before_lost=timeouts_before_lost,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
        )
        self._session.on_reconnected = self._restore
        self.trace = self._session.trace
        self._sinks: list[EventSink] = []
        self._lease_ms: int | None = None
        self._watchdog_ms: int | None = None
        self._pressure_kpa: int | None = None
        self._hb_seq = 0

    @property
    def read_retries_used(self) -> int:
        """Reads tried again, since start."""
        return self._session.read_retries_used

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float]) -> N2Driver:
        address = parse_url(url, schemes=(N2_SERIAL, N2_SOCKET))
        if address.parity not in (None, "N"):
            raise AddressError(f"{url}: parity={address.parity}, but the N2 line is 8N1")
        return cls(address, clock=clock)

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def lease_ms(self) -> int | None:
        """The lease every OPEN asks for, once :meth:`configure` has set it."""
        return self._lease_ms

    async def _restore(self) -> None:
        """After a reconnect, write again what the host had set (the unit may have restarted)."""
        if self._watchdog_ms is not None:
            await self._write_checked(icd.CMD_WDT, self._watchdog_ms)
        if self._pressure_kpa is not None:
            await self._write_checked(icd.CMD_PRESS, self._pressure_kpa)

    async def _write_checked(self, command: str, value: int) -> int:
        """Send ``command,value`` and check the echo, which is the unit's read-back."""
        reply, _ = await self._session.request(command, value)
        echoed = parse_echo_int(reply, command)
        if echoed != value:
            raise ConfigMismatch(f"{self._url}: wrote {command},{value}, unit read back {echoed}")
        return echoed

    # -- DevicePort ------------------------------------------------------------------

    async def connect(self) -> Identity:
        unit = await self._session.open()
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
        self._lease_ms = None  # no OPEN until the watchdog has read back as written
        read_back = await self._write_checked(icd.CMD_WDT, watchdog_ms)
        self._watchdog_ms = read_back
        self._lease_ms = lease_ms
        await self._session.request(icd.CMD_RESET)
        return Protection(watchdog_ms=read_back, lease_ms=lease_ms)

    async def cap_open(self, max_open_ms: int) -> int:
        """The N2 has no MAX_OPEN_MS: the lease of each OPEN caps it (never renewed unasked)."""
        raise ConfigError(f"{self._url}: the N2 has no open cap; each OPEN carries its lease")

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
        self._pressure_kpa = await self._write_checked(icd.CMD_PRESS, pressure_kpa)

    async def heartbeat(self) -> None:
        seq = self._hb_seq
        self._hb_seq = (seq + 1) % HB_SEQ_MODULUS
        reply, _ = await self._session.request(icd.CMD_HB, seq)
        echoed = parse_echo_int(reply, icd.CMD_HB)
        if echoed != seq:
            raise ProtocolError(f"{self._url}: HB,{seq} answered with HB,{echoed}")

    async def read_status(self) -> Status:
        reply, at_s = await self._session.request(icd.CMD_STAT, retries=self._session.read_retries)
        return status_from_stat(parse_stat(reply), read_at_s=at_s)

    async def open_valve(self) -> None:
        lease_ms = self._lease_ms
        if lease_ms is None:
            raise ConfigError(f"{self._url}: no lease configured (configure() first)")
        # Never the first act on a reopened link: the core reads the unit again first.
        reply, _ = await self._session.request(icd.CMD_OPEN, lease_ms, reconnect=False)
        echoed = parse_echo_int(reply, icd.CMD_OPEN)
        if echoed != lease_ms:
            await self.close_valve()
            raise ConfigMismatch(
                f"{self._url}: OPEN,{lease_ms} answered with lease {echoed}; valve closed"
            )

    async def close_valve(self) -> None:
        await self._session.request(icd.CMD_CLOSE, urgent=True)

    async def reset_faults(self) -> None:
        await self._session.request(icd.CMD_RESET)

    async def reset_estop(self) -> None:
        # The ICD has one RESET for both latches; it never opens the valve.
        await self._session.request(icd.CMD_RESET)

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def aclose(self) -> None:
        await self._session.aclose(last_command=icd.CMD_CLOSE)

    # -- events ------------------------------------------------------------------------

    def _on_event(self, frame: EventFrame, at_s: float) -> None:
        event = device_event(frame, at_s=at_s, url=self._url)
        if event is not None:
            self._emit(event)

    def _emit(self, event: DeviceEvent) -> None:
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:
                # A sink's bug must not stop the reader that serves the next answer.
                _log.exception("n2 event sink failed", url=self._url, kind=str(event.kind))
