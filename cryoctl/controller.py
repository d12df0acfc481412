"""The asyncio shell around the pure core: read, decide, check, command.

One loop, default 50 Hz, sleeping to absolute deadlines (the next tick, or the
exact dwell deadline if that comes first). Each tick it reads a status, feeds the
treatment core and the safety supervisor through :class:`~cryoctl.cycle.ControlCore`
and applies the result through the device port. A close (and an e-stop) goes out
first, before any bookkeeping. Unit events (trigger, e-stop) act at once, without
waiting for the next tick. Heartbeats and N2 lease renewals go out only while the
loop is healthy (the last read answered and the tick was on time), so a stalled
loop lets the unit's own expiry close the valve.

Time comes from ``clock`` and waiting from ``sleep_until``, so tests run the shell
in virtual time; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from cryoctl.alarms import AlarmCode
from cryoctl.cycle import ControlCore, Output
from cryoctl.errors import ConfigMismatch, DeviceError
from cryoctl.machine import DISCONNECTED
from cryoctl.port import (
    DeviceEvent,
    DeviceKind,
    DevicePort,
    DeviceSettings,
    EventKind,
    Expiry,
    Identity,
    Protection,
)
from cryoctl.profile import LoadedProfile
from cryoctl.supervisor import SafetySupervisor
from cryoctl.treatment import Commands, Treatment

__all__ = ["Controller", "default_protection"]

#: Float round-off allowed when comparing clock times.
_TIME_EPS_S = 1e-9


def default_protection(kind: DeviceKind) -> Protection:
    """The unit's own protection the controller writes and reads back before arming."""
    if kind is DeviceKind.N2:
        return Protection(watchdog_ms=500, lease_ms=200)
    return Protection(watchdog_ms=500, max_open_ms=60_000)


class Controller:
    """Drives one unit. Staff requests are coroutines; :meth:`run` is the loop."""

    def __init__(
        self,
        port: DevicePort,
        treatment: Treatment,
        supervisor: SafetySupervisor,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep_until: Callable[[float], Awaitable[None]] | None = None,
        period_s: float = 0.02,
        heartbeat_every_s: float = 0.1,
        protection: Protection | None = None,
    ) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be > 0")
        self.port = port
        self.treatment = treatment
        self.core = ControlCore(treatment, supervisor)
        self._clock = clock
        self._sleep_until = sleep_until or self._sleep_until_default
        self.period_s = period_s
        self._heartbeat_every_s = heartbeat_every_s
        self.protection = protection or default_protection(port.capabilities.kind)
        self._lease = port.capabilities.expiry is Expiry.LEASE
        self._valve_open = False
        self._airflow_level: int | None = None
        self._last_heartbeat_s = -float("inf")
        self._healthy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.identity: Identity | None = None
        self._subscribed = False
        #: Ticks run so far (status reads attempted).
        self.cycles = 0

    async def _sleep_until_default(self, deadline_s: float) -> None:
        await asyncio.sleep(max(0.0, deadline_s - self._clock()))

    # -- start-up ----------------------------------------------------------------

    async def start(self) -> Identity:
        """Connect, write and read back the unit's protection, and subscribe."""
        self.identity = await self.port.connect()
        # A (re)started controller never inherits an open valve.
        await self._close()
        self.treatment.on_connected(self._clock())
        try:
            read_back = await self.port.configure(self.protection)
        except ConfigMismatch as exc:
            self.treatment.on_selftest(protection_ok=False, now=self._clock(), detail=str(exc))
            raise
        same = read_back == self.protection
        self.treatment.on_selftest(
            protection_ok=same, now=self._clock(), detail=f"read back {read_back}"
        )
        if not same:
            raise ConfigMismatch(f"wrote {self.protection}, read back {read_back}")
        if not self._subscribed:
            self._subscribed = True
            self.port.subscribe(self._on_event)
        return self.identity

    async def load_profile(self, loaded: LoadedProfile) -> None:
        """Apply the profile's set-points to the unit before it may be used."""
        commands = self.treatment.load(loaded, self._clock())
        if commands.settings is not None:
            await self.port.apply(commands.settings)
            self._airflow_level = commands.settings.airflow_level
        self.treatment.settings_applied(loaded.sha256, self._clock())

    # -- staff ---------------------------------------------------------------------

    async def request_estop(self, source: str) -> None:
        """Close first, ahead of anything queued; then the bookkeeping."""
        await self._close()
        out = self.core.run(self._clock(), lambda now: self.treatment.estop(source, now))
        await self._apply(out)

    async def act(self, step: Callable[[float], Commands]) -> Output:
        """Run one staff request (``lambda now: t.pause(now)``) and apply the result."""
        out = self.core.run(self._clock(), step)
        await self._apply(out)
        return out

    def stop(self) -> None:
        self._stop.set()

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, max_s: float | None = None) -> None:
        """Control until :meth:`stop` (or ``max_s`` of clock time); the valve ends closed."""
        start = self._clock()
        next_tick = start
        try:
            while not self._stop.is_set():
                if max_s is not None and self._clock() - start >= max_s:
                    break
                deadline = self.treatment.commands().next_deadline_s
                wake = next_tick if deadline is None else min(next_tick, deadline)
                await self._sleep_until(wake)
                now = self._clock()
                if now < next_tick:
                    await self._apply(self.core.tick(now))
                    continue
                on_time = now - next_tick <= self.period_s
                next_tick = max(next_tick + self.period_s, now)
                await self._cycle(on_time=on_time)
        finally:
            await self._close()
            for task in list(self._tasks):
                task.cancel()

    async def _cycle(self, *, on_time: bool) -> None:
        self.cycles += 1
        try:
            status = await self.port.read_status()
        except DeviceError as exc:
            self._healthy = False
            await self._apply(self.core.on_read_error(self._clock(), detail=str(exc)))
            return
        now = self._clock()
        if self.treatment.phase is DISCONNECTED:
            await self._reconnect()
            if self.treatment.phase is DISCONNECTED:
                return
            # The answer that brought the link back goes through the core too, so
            # the supervisor and the machine date the link from the same read.
            now = self._clock()
        out = self.core.on_status(status, now)
        self._healthy = on_time
        await self._apply(out)
        due = now - self._last_heartbeat_s >= self._heartbeat_every_s - _TIME_EPS_S
        if self._healthy and due:
            self._last_heartbeat_s = now
            await self.port.heartbeat()

    async def _reconnect(self) -> None:
        try:
            await self.start()
        except DeviceError as exc:
            self.treatment.alarms.raise_alarm(AlarmCode.COMM_LOST, self._clock(), str(exc))

    def _on_event(self, event: DeviceEvent) -> None:
        if event.kind not in (EventKind.TRIGGER, EventKind.ESTOP, EventKind.LEASE_EXPIRED):
            return
        out = self.core.on_event(event, self._clock())
        if not out.valve_open and self._valve_open:
            self._valve_open = False
            task = asyncio.get_running_loop().create_task(self._close_then(out))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _close_then(self, out: Output) -> None:
        await self._close()
        await self._apply(out)

    async def _close(self) -> None:
        self._valve_open = False
        await self.port.close_valve()

    async def _apply(self, out: Output) -> None:
        c = out.commands
        if not out.valve_open:
            if self._valve_open or out.close_first:
                await self._close()
        elif not self._valve_open or (self._lease and self._healthy):
            try:
                await self.port.open_valve()
                self._valve_open = True
            except DeviceError as exc:
                await self._close()
                self.core.on_open_refused(self._clock(), f"unit refused to open: {exc}")
        if c.airflow_level is not None and c.airflow_level != self._airflow_level:
            self._airflow_level = c.airflow_level
            await self.port.apply(DeviceSettings(airflow_level=c.airflow_level))
        try:
            if c.reset_estop:
                await self.port.reset_estop()
            if c.reset_faults:
                await self.port.reset_faults()
        except DeviceError as exc:
            self.treatment.refusals = (f"the unit refused the reset: {exc}",)
