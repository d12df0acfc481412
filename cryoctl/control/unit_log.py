"""Every command to the unit is one log event: :class:`LoggedPort` wraps the driver.

The control process hands the controller its driver wrapped in a
:class:`LoggedPort`, so the journal has one ``unit command`` event per command
(``command``, its arguments and its answer, or ``error`` and a warning when it
failed), written in one place for every driver. What repeats every cycle is
logged at debug level, so it costs nothing unless asked for: an N2 lease
renewal (an open while open), a heartbeat, and a close sent again before any
status has shown the last one done (the controller re-sends a close every cycle
until a status confirms it). Status reads are not commands and are
not logged here (every frame is traced at debug level by the driver). Anything
else (the trace ring, retry counts) is the driver's, passed through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from cryoctl.core.port import (
    Capabilities,
    DevicePort,
    DeviceSettings,
    EventSink,
    Identity,
    Protection,
    Status,
)

__all__ = ["LoggedPort"]

_log = structlog.get_logger("cryoctl.control.unit")
T = TypeVar("T")


def _fields(value: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
    return {}


class LoggedPort:
    """A :class:`~cryoctl.core.port.DevicePort` that logs each command, then forwards it."""

    def __init__(self, port: DevicePort) -> None:
        self._port = port
        self._open = False
        #: A close went out and no status read since has shown the valve shut.
        self._close_unconfirmed = False

    def __getattr__(self, name: str) -> Any:  # the driver's own extras (trace, counts)
        return getattr(self._port, name)

    @property
    def capabilities(self) -> Capabilities:
        return self._port.capabilities

    async def _send(self, command: str, call: Callable[[], Awaitable[T]], *,
                    quiet: bool = False, **fields: Any) -> T:
        try:
            answer = await call()
        except Exception as exc:
            _log.warning("unit command", command=command, ok=False,
                         error=str(exc) or type(exc).__name__, **fields)
            raise
        (_log.debug if quiet else _log.info)("unit command", command=command, ok=True, **fields)
        return answer

    async def connect(self) -> Identity:
        identity = await self._send("connect", self._port.connect)
        self._open = False
        return identity

    async def configure(self, protection: Protection) -> Protection:
        read_back = await self._send("configure", lambda: self._port.configure(protection),
                                     **_fields(protection))
        if read_back != protection:
            _log.warning("unit protection read back differs", wrote=_fields(protection),
                         read_back=_fields(read_back))
        return read_back

    async def cap_open(self, max_open_ms: int) -> int:
        return await self._send("cap_open", lambda: self._port.cap_open(max_open_ms),
                                max_open_ms=max_open_ms)

    async def apply(self, settings: DeviceSettings) -> None:
        await self._send("apply", lambda: self._port.apply(settings), **_fields(settings))

    async def heartbeat(self) -> None:
        await self._send("heartbeat", self._port.heartbeat, quiet=True)

    async def read_status(self) -> Status:
        status = await self._port.read_status()
        if self._close_unconfirmed and not status.valve_commanded:
            self._close_unconfirmed = False
        return status

    async def open_valve(self) -> None:
        renewal = self._open
        self._close_unconfirmed = False
        await self._send("renew" if renewal else "open", self._port.open_valve, quiet=renewal)
        self._open = True

    async def close_valve(self) -> None:
        again = not self._open and self._close_unconfirmed
        self._open = False
        self._close_unconfirmed = True
        await self._send("close", self._port.close_valve, quiet=again, again=again)

    async def reset_faults(self) -> None:
        await self._send("reset_faults", self._port.reset_faults)

    async def reset_estop(self) -> None:
        await self._send("reset_estop", self._port.reset_estop)

    def subscribe(self, sink: EventSink) -> None:
        self._port.subscribe(sink)

    async def aclose(self) -> None:
        await self._send("release", self._port.aclose)
