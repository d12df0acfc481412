"""The asyncio shell around the pure core: read, decide, check, command, confirm.

One loop, default 50 Hz, sleeping to absolute deadlines (the next tick, or the
exact dwell deadline if that comes first). Each tick it reads a status, feeds the
treatment core and the safety supervisor through :class:`~cryoctl.core.cycle.ControlCore`
and applies the result through the device port. What the shell holds to:

- **E-stop cannot be lost.** :meth:`Controller.request_estop` latches first, with no
  I/O (machine in ``estop``, session ended, supervisor halted), then sends the
  close ahead of everything; a close that fails or is not confirmed goes out again.
- **Closes are confirmed, not assumed.** The shell keeps what it commanded apart
  from what the unit last reported: every close, for any reason, is sent again
  each cycle until a status read after it shows the valve closed (the valve
  read-back 0, and the feedback where the unit has one). A valve the unit reports
  open that the host did not open is closed at once, with a high alarm.
- **The loop does not die.** No exception from the port ends :meth:`run`: a failed
  read goes through the core as a read error, a failed write raises an alarm, and
  the loop keeps its period. A tick later than one period, or a read that failed,
  makes the cycle unhealthy: no heartbeat and no lease renewal goes out from it, so
  the unit's own expiry closes the valve if the loop cannot keep time.
- **Every way back to arming passes the protection read-back.** A reset, an e-stop
  reset or a reconnect leads through ``selftest``, where the shell writes and reads
  back the unit's protection before the machine may go on; at each CJ-Air zone's
  start the unit's MAX_OPEN_MS is written and read back as the zone's dwell plus
  the margin before that zone may spray.
- **Staff commands** (:mod:`cryoctl.core.staff`) enter through one queue and are applied
  between cycles; an e-stop bypasses the queue. After every wake the shell
  publishes a snapshot when anything shown changed, and the events since
  (:mod:`cryoctl.control.publisher`).

Unit events (trigger, e-stop, lease expiry) are judged at once; a close they call
for goes out in a task of its own, ahead of the next tick, and that task's
failure is logged and leaves the close pending. Time comes from ``clock`` and
waiting from a :class:`~cryoctl.control.sleeper.Sleeper`, so tests run the shell in
virtual time; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from cryoctl.control.diagnostics import FrameDump, LoopTimer, driver_read_retries
from cryoctl.control.protection import default_protection
from cryoctl.control.publisher import Listener, Publisher
from cryoctl.control.sleeper import RealtimeSleeper, Sleeper
from cryoctl.control.stats import ControllerStats
from cryoctl.control.valve import ValveBook
from cryoctl.core.cycle import ControlCore, Output
from cryoctl.core.machine import DISCONNECTED, SELFTEST
from cryoctl.core.port import (
    DeviceEvent,
    DevicePort,
    DeviceSettings,
    EventKind,
    Expiry,
    Identity,
    Protection,
    Status,
)
from cryoctl.core.snapshot import Snapshot
from cryoctl.core.staff import LoadProfile, Reply, StaffCommand, treatment_step
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Commands, Treatment
from cryoctl.errors import ConfigMismatch, DeviceError, MachineRefused
from cryoctl.profile import LoadedProfile
from cryoctl.protocol import ControlStats

__all__ = ["Controller", "ControllerStats", "default_protection"]

_log = structlog.get_logger("cryoctl.control.controller")

#: Float round-off allowed when comparing clock times.
_TIME_EPS_S = 1e-9
#: After a failed open-cap write, wait this long before the next try.
_CAP_RETRY_S = 1.0
#: Unit events the core acts on at once.
_URGENT_EVENTS = (EventKind.TRIGGER, EventKind.ESTOP, EventKind.LEASE_EXPIRED)


#: What an observer hears: each output as it goes out, with the status it was decided on.
Observer = Callable[[Output, "Status | None"], None]


class Controller:
    """Drives one unit. :meth:`run` is the loop; staff commands go through :meth:`submit`."""

    def __init__(
        self,
        port: DevicePort,
        treatment: Treatment,
        supervisor: SafetySupervisor,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Sleeper | None = None,
        period_s: float = 0.02,
        heartbeat_every_s: float = 0.1,
        protection: Protection | None = None,
        observer: Observer | None = None,
    ) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be > 0")
        self.port = port
        self.treatment = treatment
        self.core = ControlCore(treatment, supervisor)
        self._clock = clock
        self._sleeper = sleeper or RealtimeSleeper(clock)
        self.period_s = period_s
        self._heartbeat_every_s = heartbeat_every_s
        self.protection = protection or default_protection(port.capabilities.kind)
        self._lease = port.capabilities.expiry is Expiry.LEASE
        self._observer = observer
        self._airflow_level: int | None = None
        self._cap_retry_at_s = -math.inf
        self._last_heartbeat_s = -math.inf
        self._healthy = False
        self._next_tick_s: float | None = None
        self._queue: deque[tuple[StaffCommand, asyncio.Future[Reply]]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = False
        #: run() has returned: nothing will apply a command any more.
        self._ended = False
        self._subscribed = False
        self.identity: Identity | None = None
        self.last_read_ok_s: float | None = None
        self.stats = ControllerStats()
        self._timer = LoopTimer(self.stats, period_s)
        self._frames = FrameDump(port, treatment)
        self._valve = ValveBook(port, treatment, clock, self.stats)
        self.publisher = Publisher(treatment)

    # -- what others read ---------------------------------------------------------

    @property
    def cycles(self) -> int:
        return self.stats.cycles

    @property
    def close_pending(self) -> bool:
        return self._valve.close_pending

    @property
    def healthy(self) -> bool:
        return self._healthy

    def snapshot(self) -> Snapshot:
        """What the panel shows, now."""
        return self.publisher.snapshot(
            self._clock(),
            healthy=self._healthy,
            close_pending=self._valve.close_pending,
            identity=self.identity,
        )

    def stats_report(self) -> ControlStats:
        """The loop's numbers since start, as the ``stats`` request answers them."""
        retries = driver_read_retries(self.port)
        if retries is not None:
            self.stats.read_retries = retries
        return self.stats.report()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Snapshots (at each change) and events, as they happen; returns unsubscribe."""
        return self.publisher.subscribe(listener)

    # -- start-up ----------------------------------------------------------------

    async def start(self) -> Identity:
        """Connect, close, write and read back the unit's protection, and subscribe.

        Raises what the port raises, and ConfigMismatch when the protection does
        not read back (the machine is then in ``fault``).
        """
        self._loop = asyncio.get_running_loop()
        self.identity = await self.port.connect()
        # A (re)started controller never inherits an open valve.
        await self._valve.close()
        self.treatment.on_connected(self._clock())
        mismatch = await self._selftest()
        if mismatch is not None:
            raise mismatch
        if not self._subscribed:
            self._subscribed = True
            self.port.subscribe(self._on_event)
        self._publish()
        return self.identity

    async def _selftest(self) -> ConfigMismatch | None:
        """Write the unit's protection and read it back; the machine goes on only if it matches.

        Link errors propagate (the caller decides whether to retry); a mismatch is
        returned after the machine has been told.
        """
        t = self.treatment
        try:
            read_back = await self.port.configure(self.protection)
        except ConfigMismatch as exc:
            t.on_selftest(protection_ok=False, now=self._clock(), detail=str(exc))
            return exc
        # The read-back is the unit answering: on a slow line (RTU at 19200 baud the
        # writes and read-backs take ~0.2 s) the link must not count as lost for it.
        t.on_connected(self._clock())
        same = read_back == self.protection
        t.on_selftest(protection_ok=same, now=self._clock(), detail=f"read back {read_back}")
        if not same:
            return ConfigMismatch(f"wrote {self.protection}, read back {read_back}")
        if read_back.max_open_ms is not None:
            t.on_open_cap(read_back.max_open_ms, self._clock())
        return None

    async def load_profile(self, loaded: LoadedProfile) -> None:
        """Apply the profile's set-points to the unit before it may be used."""
        commands = self.treatment.load(loaded, self._clock())
        if commands.settings is not None:
            await self.port.apply(commands.settings)
            self._airflow_level = commands.settings.airflow_level
        self.treatment.settings_applied(loaded.sha256, self._clock())

    # -- staff ---------------------------------------------------------------------

    async def request_estop(self, source: str) -> bool:
        """Latch first (no I/O), then close ahead of everything.

        Returns whether the unit acknowledged the close; either way the daemon is in
        ``estop`` and the close goes out again every cycle until a status confirms it.
        """
        now = self._clock()
        out = self.core.run(now, lambda at: self.treatment.estop(source, at))
        self._observe(out)
        _log.warning("estop requested", source=source)
        acknowledged = await self._valve.close()
        self._publish()
        return acknowledged

    async def submit(self, command: StaffCommand) -> Reply:
        """Queue a staff command; the loop applies it between cycles and answers."""
        if self._ended:
            return Reply(False, "the control loop has stopped")
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._queue.append((command, fut))
        self._sleeper.wake()
        return await fut

    async def act(self, step: Callable[[float], Commands]) -> Output:
        """Run one treatment entry point now (``lambda now: t.pause(now)``) and apply it."""
        out = self.core.run(self._clock(), step)
        await self._apply(out)
        return out

    def stop(self) -> None:
        self._stop = True
        self._sleeper.wake()

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, max_s: float | None = None) -> None:
        """Control until :meth:`stop` (or ``max_s`` of clock time); the valve ends closed."""
        self._loop = asyncio.get_running_loop()
        start = self._clock()
        self._next_tick_s = start
        try:
            while not self._stop:
                if max_s is not None and self._clock() - start >= max_s:
                    break
                await self._wake_once()
        finally:
            self._ended = True
            self._healthy = False
            await self._valve.close()
            for task in list(self._tasks):
                task.cancel()
            while self._queue:  # nobody will apply these now: say so, do not leave them hanging
                _, fut = self._queue.popleft()
                if not fut.done():
                    fut.set_result(Reply(False, "the control loop has stopped"))
            self._publish()

    async def _wake_once(self) -> None:
        next_tick = self._next_tick_s
        assert next_tick is not None
        deadline = self.treatment.commands().next_deadline_s
        wake = next_tick if deadline is None else min(next_tick, deadline)
        if not self._queue:
            await self._sleeper.sleep_until(wake)
        try:
            await self._drain()
            now = self._clock()
            if now < next_tick:
                await self._apply(self.core.tick(now))
            else:
                late_s = now - next_tick
                self._next_tick_s = max(next_tick + self.period_s, now)
                await self._cycle(late_s=late_s)
        except Exception:  # a bug in the core or the shell: close, stop feeding the unit
            self.stats.internal_errors += 1
            self._healthy = False
            _log.exception("control cycle failed; valve closed, heartbeats held back")
            await self._valve.close()
        self._publish()

    async def _drain(self) -> None:
        while self._queue:
            command, fut = self._queue.popleft()
            try:
                reply = await self._execute(command)
            except MachineRefused as exc:
                reply = Reply(False, str(exc))
            except DeviceError as exc:
                reply = Reply(False, f"the unit did not take it: {exc}")
            _log.info("staff command", command=type(command).__name__, ok=reply.ok,
                      reason=reply.reason)
            if not fut.done():
                fut.set_result(reply)

    async def _execute(self, command: StaffCommand) -> Reply:
        t = self.treatment
        if isinstance(command, LoadProfile):
            await self.load_profile(command.loaded)
            return Reply(True)
        out = self.core.run(self._clock(), treatment_step(t, command))
        await self._apply(out)
        c = out.commands
        for wanted, name, write in (
            (c.reset_estop, "reset_estop", self.port.reset_estop),
            (c.reset_faults, "reset_faults", self.port.reset_faults),
        ):
            if wanted and not await self._write(name, write):
                t.refusals = (f"the unit did not take the reset ({name})",)
                return Reply(False, "the unit did not take the reset")
        return Reply(True)

    async def _cycle(self, *, late_s: float) -> None:
        self.stats.cycles += 1
        self._timer.cycle_started(self._clock())
        on_time = late_s <= self.period_s
        if not on_time:
            self.stats.late_cycles += 1
            _log.warning("control tick late", late_ms=round(late_s * 1000, 1))
        self.treatment.on_loop_timing(late_s, self._clock())
        status = await self._read()
        if status is None:
            return
        if self.treatment.phase is DISCONNECTED:
            if not await self._reconnect():
                return
            # A clean break: only a status read after the link was re-established,
            # reset and re-configured is judged.
            status = await self._read()
            if status is None:
                return
        elif self.treatment.phase is SELFTEST:
            await self._selftest_in_loop()
        now = self._clock()
        out = self.core.on_status(status, now)
        self._healthy = on_time
        self._valve.judge(status, now)
        await self._apply(out, status, renew=self._healthy)
        due = now - self._last_heartbeat_s >= self._heartbeat_every_s - _TIME_EPS_S
        if self._healthy and due:
            self._last_heartbeat_s = now
            if not await self._write("heartbeat", self.port.heartbeat):
                self._healthy = False

    async def _read(self) -> Status | None:
        asked_s = self._clock()
        try:
            status = await self.port.read_status()
        except Exception as exc:  # any failure is a read error the core judges
            self.stats.read_errors += 1
            self._healthy = False
            detail = str(exc) or type(exc).__name__
            was = self.treatment.phase
            await self._apply(self.core.on_read_error(self._clock(), detail=detail))
            if self.treatment.phase is DISCONNECTED and was is not DISCONNECTED:
                held = self.treatment.session is not None
                _log.error("link lost", error=detail, session_held=held)
            return None
        self.last_read_ok_s = self._clock()
        self._timer.polled(self.last_read_ok_s - asked_s)
        return status

    async def _reconnect(self) -> bool:
        t = self.treatment
        try:
            self.identity = await self.port.connect()
            await self._valve.close()
            t.on_connected(self._clock())
            await self._selftest()
        except Exception as exc:  # the link is still gone: try again next cycle
            t.on_write_error("reconnect", str(exc) or type(exc).__name__, self._clock())
            return False
        gone_s = t.last_outage_s
        _log.info("link back", phase=t.phase.value,
                  gone_s=None if gone_s is None else round(gone_s, 3),
                  session_held=t.session is not None)
        return t.phase is not DISCONNECTED

    async def _selftest_in_loop(self) -> None:
        try:
            await self._selftest()
        except Exception as exc:  # stays in selftest; tried again next cycle
            self.treatment.on_write_error("configure", str(exc), self._clock())

    def _on_event(self, event: DeviceEvent) -> None:
        if event.kind not in _URGENT_EVENTS:
            return
        out = self.core.on_event(event, self._clock())
        self._observe(out)
        if not out.valve_open and self._valve.open_sent:
            self._spawn(self._valve.close())
        self._sleeper.wake()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.internal_errors += 1
            self._valve.close_pending = True
            _log.error("background close failed", exc_info=task.exception())

    async def _write(self, name: str, write: Callable[[], Awaitable[None]]) -> bool:
        try:
            await write()
        except Exception as exc:  # a failed write is an alarm, never the end of the loop
            self.stats.write_errors += 1
            detail = str(exc) or type(exc).__name__
            self.treatment.on_write_error(name, detail, self._clock())
            _log.warning("write failed", what=name, error=detail)
            return False
        return True

    async def _apply(
        self, out: Output, status: Status | None = None, *, renew: bool = False
    ) -> None:
        """Send what ``out`` asks; a lease is renewed only by a healthy cycle (``renew``)."""
        self._observe(out, status)
        c = out.commands
        if out.valve_open and not self._valve.open_sent:
            await self._follow_open_cap(c)  # a zone's cap is in force before it opens
        if not out.valve_open:
            now = self._clock()
            resend = self._valve.close_pending and (
                out.close_first or now - self._valve.close_sent_at_s >= self.period_s / 2
            )
            if self._valve.open_sent or resend:
                await self._valve.close()
        elif not self._valve.open_sent or (self._lease and renew):
            await self._valve.open(self._open_refused)
        if c.airflow_level is not None and c.airflow_level != self._airflow_level:
            self._airflow_level = c.airflow_level
            await self._write(
                "airflow", lambda: self.port.apply(DeviceSettings(airflow_level=c.airflow_level))
            )
        await self._follow_open_cap(c)

    async def _follow_open_cap(self, c: Commands) -> None:
        """CJ-Air: the unit's own cap on one opening follows the zone (layer 2)."""
        wanted = c.open_cap_ms
        t = self.treatment
        if wanted is None or wanted == t.open_cap_confirmed_ms or t.phase is DISCONNECTED:
            return
        now = self._clock()
        if now < self._cap_retry_at_s:
            return
        try:
            read_back = await self.port.cap_open(wanted)
        except Exception as exc:  # no spray in this zone until the cap reads back
            self._cap_retry_at_s = now + _CAP_RETRY_S
            self.stats.write_errors += 1
            t.on_open_cap_failed(f"MAX_OPEN_MS {wanted}: {exc}", self._clock())
            return
        t.on_open_cap(read_back, self._clock())

    # -- bookkeeping -------------------------------------------------------------------

    def _open_refused(self, detail: str) -> None:
        """The unit would not open: the core books the close (the valve book sends it)."""
        self._observe(self.core.on_open_refused(self._clock(), f"unit refused to open: {detail}"))

    def _observe(self, out: Output, status: Status | None = None) -> None:
        if self._observer is not None:
            self._observer(out, status if status is not None else self.treatment.status)

    def _publish(self) -> None:
        self._frames.check()
        self.publisher.publish(
            self._clock(),
            healthy=self._healthy,
            close_pending=self._valve.close_pending,
            identity=self.identity,
        )

