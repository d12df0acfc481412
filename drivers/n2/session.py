"""The link to one N2 unit as the driver uses it: bounded read retries, link-loss
accounting, and reconnecting with back-off to the same unit only.

Reads (ID, STAT) may be retried ``read_retries`` times; writes never are. After
``timeouts_before_lost`` timeouts in a row the link counts as lost (the core is
told once, with ``EventKind.LINK_LOST``), as it does when the port itself fails.
A lost port is reopened on the next request that allows it, at most once per
back-off interval on the injected clock; the unit must answer ``ID`` with the
model and serial it gave at connect, and ``on_reconnected`` then writes again what
the host had set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from cryoctl.core.port import DeviceEvent, EventKind
from cryoctl.errors import DeviceError, DeviceUnavailable
from drivers.n2 import icd
from drivers.n2.codec import OkReply
from drivers.n2.link import EventHandler, N2Link
from drivers.n2.replies import IdReply, parse_id
from drivers.trace import FrameTrace
from drivers.url import UnitAddress

__all__ = ["N2Session"]

_log = structlog.get_logger("drivers.n2")


class N2Session:
    """Requests to one unit, with the policies above. The driver owns one."""

    def __init__(
        self,
        address: UnitAddress,
        *,
        clock: Callable[[], float],
        on_event: EventHandler,
        emit: Callable[[DeviceEvent], None],
        timeout_ms: int,
        turn_timeout_ms: int,
        open_timeout_ms: int,
        read_retries: int,
        timeouts_before_lost: int,
        reconnect_min_s: float,
        reconnect_max_s: float,
    ) -> None:
        self.url = address.url
        self._clock = clock
        self._emit = emit
        self._timeout_ms = timeout_ms
        self._turn_timeout_ms = turn_timeout_ms
        self._open_timeout_ms = open_timeout_ms
        self.read_retries = read_retries
        #: Reads tried again, since start (for the controller's stats).
        self.read_retries_used = 0
        self._timeouts_before_lost = timeouts_before_lost
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self.trace = FrameTrace(link=address.url)
        self._link = N2Link(
            address.serial_for_url_target(),
            url=address.url,
            clock=clock,
            trace=self.trace,
            on_event=on_event,
            on_lost=self._on_lost,
            baud=address.baud or icd.BAUD,
        )
        self.on_reconnected: Callable[[], Awaitable[None]] | None = None
        self._unit: IdReply | None = None
        self._closed = False
        self._timeouts_in_a_row = 0
        self._lost_told = False
        self._backoff_s = reconnect_min_s
        self._next_reconnect_s = float("-inf")

    @property
    def is_open(self) -> bool:
        return self._link.is_open

    async def open(self) -> IdReply:
        """Open the port and identify the unit; the link is released again on failure."""
        self._closed = False
        await self._link.open(timeout_ms=self._open_timeout_ms)
        try:
            unit = await self._identify()
        except DeviceError:
            await self._link.aclose()
            raise
        self._unit = unit
        return unit

    async def request(
        self,
        command: str,
        *args: str | int,
        urgent: bool = False,
        retries: int = 0,
        reconnect: bool = True,
    ) -> tuple[OkReply, float]:
        """One exchange, reopening a lost link first if ``reconnect``; ``retries`` for reads."""
        if reconnect:
            await self._ensure_link()
        elif not self._link.is_open:
            raise DeviceUnavailable(f"{self.url}: link is down; {command} not sent")
        return await self._call(command, *args, urgent=urgent, retries=retries)

    async def _call(
        self, command: str, *args: str | int, urgent: bool = False, retries: int = 0
    ) -> tuple[OkReply, float]:
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
                self.read_retries_used += 1
                _log.info("n2 read retried", url=self.url, command=command, reason=str(exc))
                continue
            self._timeouts_in_a_row = 0
            self._lost_told = False
            return reply

    async def _identify(self) -> IdReply:
        reply, _ = await self._call(icd.CMD_ID, retries=self.read_retries)
        return parse_id(reply)

    def _note_failure(self, exc: DeviceError) -> None:
        if not isinstance(exc, TimeoutError):
            return
        self._timeouts_in_a_row += 1
        if self._timeouts_in_a_row >= self._timeouts_before_lost and not self._lost_told:
            self._lost_told = True
            self._emit(DeviceEvent(kind=EventKind.LINK_LOST, at_s=self._clock(), value=None))

    def _on_lost(self, reason: str) -> None:
        _log.warning("n2 link lost", url=self.url, reason=reason)
        self._lost_told = True
        self._emit(DeviceEvent(kind=EventKind.LINK_LOST, at_s=self._clock(), value=None))

    async def _ensure_link(self) -> None:
        if self._link.is_open:
            return
        if self._closed:
            raise DeviceUnavailable(f"{self.url}: closed (connect() to use it again)")
        known = self._unit
        if known is None:
            raise DeviceUnavailable(f"{self.url}: not connected (connect() first)")
        now = self._clock()
        if now < self._next_reconnect_s:
            raise DeviceUnavailable(
                f"{self.url}: link down, next reconnect attempt in "
                f"{self._next_reconnect_s - now:.2f} s"
            )
        try:
            await self._link.open(timeout_ms=self._open_timeout_ms)
            unit = await self._identify()
            if (unit.model, unit.serial) != (known.model, known.serial):
                raise DeviceUnavailable(
                    f"{self.url}: a different unit answered ({unit.model} {unit.serial}, "
                    f"expected {known.model} {known.serial})"
                )
            if self.on_reconnected is not None:
                await self.on_reconnected()
        except DeviceError as exc:
            await self._link.aclose()
            self._next_reconnect_s = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2.0, self._reconnect_max_s)
            raise DeviceUnavailable(f"{self.url}: reconnect failed: {exc}") from exc
        self._backoff_s = self._reconnect_min_s
        _log.info("n2 link reconnected", url=self.url)

    async def aclose(self, *, last_command: str | None = None) -> None:
        """Send ``last_command`` if the link is up (its failure is logged), then release it."""
        self._closed = True
        if last_command is not None and self._link.is_open:
            try:
                await self._call(last_command, urgent=True)
            except DeviceError as exc:
                _log.warning(
                    "n2 last command failed", url=self.url, command=last_command, reason=str(exc)
                )
        await self._link.aclose()
