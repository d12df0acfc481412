"""The control process (``cryoctl run``): controller, control socket and systemd on one loop.

Start-up, in this order, each step logged:

1. logging as the config says (JSON lines on stdout under systemd);
2. the unit's driver is found by the URL's scheme (no I/O yet);
3. the control socket's path is claimed: a live socket there means another control
   process, so this one stops before touching the unit; a stale file is removed;
4. the records (``cryoctl.db`` in the data folder) are opened and upgraded, and every
   session left open by a control process that died is closed as ``interrupted``;
5. :meth:`Controller.start` connects, closes, writes and reads back the protection
   (bounded by ``START_TIMEOUT_S``);
6. the control loop starts, then the socket serves, then ``READY=1`` and a
   ``STATUS=`` line go to systemd (``STATUS=`` follows every state change after).

Any failure before the loop runs is :class:`~cryoctl.errors.StartupFailed`, one line
naming the unit URL (or the socket path) and the problem; the link is released
first. There is never a fall-back to a simulated unit.

**Healthy**, for the systemd watchdog, means: the controller's last cycle read a
status and was on time (:attr:`Controller.healthy`, the same condition that lets a
heartbeat or lease renewal out), that read is no older than ``HEALTHY_READ_AGE_S``
(so a loop that stopped cycling is not healthy on an old verdict), and the loop
task is still running. ``WATCHDOG=1`` goes out, at half of ``$WATCHDOG_USEC``, only
while that holds: a stalled loop or a lost unit lets systemd's watchdog fire.

SIGTERM or SIGINT (:func:`main`), or ``stop_event``, stops in order, each step in
its own try/except so one failure does not skip the rest: the socket stops
serving (clients dropped), the controller stops (its loop ends with the valve
closed), the driver releases the link (``aclose``, which commands the valve closed
too), and the socket file is removed.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from cryoctl.config import Config
from cryoctl.control.controller import Controller
from cryoctl.control.journal import log_event
from cryoctl.control.notify import Notifier
from cryoctl.control.records_kit import RecordsKit, open_records
from cryoctl.control.registry import open_unit
from cryoctl.control.socket_server import ControlServer
from cryoctl.control.unit_log import LoggedPort
from cryoctl.core.alarms import AlarmManager
from cryoctl.core.port import DevicePort
from cryoctl.core.snapshot import ControlEvent, Snapshot
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment
from cryoctl.errors import (
    AddressError,
    ConfigError,
    ConfigMismatch,
    RecordsError,
    StartupFailed,
)
from cryoctl.logging import configure_logging
from cryoctl.profile import shipped_profiles

__all__ = [
    "EXIT_LOOP_DIED",
    "EXIT_OK",
    "EXIT_START_FAILED",
    "HEALTHY_READ_AGE_S",
    "START_TIMEOUT_S",
    "is_healthy",
    "main",
    "run_control",
    "watchdog_pings",
]

_log = structlog.get_logger("cryoctl.control.daemon")

EXIT_OK: Final = 0
#: The control loop ended by itself (a bug): systemd restarts the service.
EXIT_LOOP_DIED: Final = 1
EXIT_START_FAILED: Final = 2
#: Connecting and the protection read-back must be done within this.
START_TIMEOUT_S: Final = 10.0
#: A healthy controller has read the unit at most this long ago.
HEALTHY_READ_AGE_S: Final = 0.5
#: Each shut-down step gets this long.
_STEP_TIMEOUT_S: Final = 3.0


def is_healthy(controller: Controller, loop_task: asyncio.Task[None] | None,
               now: float) -> bool:
    """Whether the control loop runs, reads the unit, and keeps time (see the module doc)."""
    last = controller.last_read_ok_s
    return (
        controller.healthy
        and last is not None
        and now - last <= HEALTHY_READ_AGE_S
        and loop_task is not None
        and not loop_task.done()
    )


async def watchdog_pings(notifier: Notifier, healthy: Callable[[], bool], *,
                         every_s: float) -> None:
    """Send ``WATCHDOG=1`` every ``every_s`` while ``healthy()``; log when it changes."""
    was = True
    while True:
        ok = healthy()
        if ok:
            notifier.watchdog()
        if ok != was:
            (_log.info if ok else _log.error)(
                "watchdog pings resumed" if ok else "watchdog pings held back: control unhealthy")
            was = ok
        await asyncio.sleep(every_s)


def _one_line(url: str, exc: BaseException | str) -> str:
    """One line naming ``url`` (once) and the problem."""
    text = " ".join(_error_text(exc).split())
    return text if url in text else f"{url}: {text}"


def _build(config: Config, port: DevicePort) -> Controller:
    period_s = config.unit.period_ms / 1000.0
    treatment = Treatment(port.capabilities, AlarmManager(), control_period_s=period_s)
    controller = Controller(port, treatment, SafetySupervisor(control_period_s=period_s),
                            clock=time.monotonic, period_s=period_s)
    controller.subscribe(controller.stats.on_published)  # alarms and sessions, for /metrics
    controller.subscribe(log_event)  # state changes, alarms and sessions in the journal
    return controller


async def _release(port: DevicePort) -> None:
    try:
        async with asyncio.timeout(_STEP_TIMEOUT_S):
            await port.aclose()
    except Exception:  # releasing after a failed start: log, the start error is what counts
        _log.exception("unit link not released cleanly")


def _open(config: Config) -> tuple[DevicePort, Controller]:
    url = config.unit.url
    try:
        port: DevicePort = LoggedPort(open_unit(url))
    except (AddressError, ConfigError) as exc:
        raise StartupFailed(_one_line(url, exc)) from exc
    if port.capabilities.kind is not config.unit.kind:
        raise StartupFailed(f"{url}: the driver is for {port.capabilities.kind.value} units, "
                            f"but unit.kind is {config.unit.kind.value}")
    return port, _build(config, port)


async def _start(url: str, port: DevicePort, controller: Controller) -> None:
    """Connect, close, write and read back the protection; StartupFailed, link released."""
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            identity = await controller.start()
    except ConfigMismatch as exc:
        await _release(port)
        raise StartupFailed(_one_line(url, f"the unit's protection did not read back as "
                                           f"written: {exc}")) from exc
    except TimeoutError as exc:
        await _release(port)
        text = str(exc) or f"no complete start-up within {START_TIMEOUT_S:g} s"
        raise StartupFailed(_one_line(url, text)) from exc
    except Exception as exc:  # the port's errors, and whatever a driver lets out
        await _release(port)
        raise StartupFailed(_one_line(url, exc)) from exc
    _log.info("unit ready", url=url, model=identity.model, serial=identity.serial,
              firmware=identity.firmware, phase=controller.treatment.phase.value)


def _error_text(exc: BaseException | str) -> str:
    return exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)


async def run_control(config: Config, *, notifier: Notifier, stop_event: asyncio.Event) -> int:
    """Run the control process until ``stop_event``; the exit status.

    Raises StartupFailed (one line) when the unit or the socket cannot be brought up.
    """
    configure_logging(config.log.format)
    began = time.monotonic()
    url, path = config.unit.url, config.control.socket_path
    _log.info("control process starting", url=url, kind=config.unit.kind.value,
              period_ms=config.unit.period_ms, socket=str(path))
    shipped_profiles()  # read once now, not on the loop's first load request
    port, controller = _open(config)
    server = ControlServer(controller, path, mode=config.control.socket_mode,
                           allowed_groups=config.control.allowed_groups,
                           profile_dir=config.data.dir / "profiles",
                           signatures=config.profiles.policy())
    # The path is claimed before the unit is touched: a second control process stops here.
    try:
        server.bind()
    except OSError as exc:
        raise StartupFailed(_one_line(str(path), f"cannot open the control socket: "
                                                 f"{exc.strerror or exc}")) from exc
    # Only the process that holds the socket may close another's sessions as interrupted.
    try:
        records = open_records(config, controller)
    except RecordsError as exc:
        await server.close()
        server.remove_socket()
        raise StartupFailed(str(exc)) from exc
    server.answers.clinic = records.clinic
    try:
        await _start(url, port, controller)
    except BaseException:
        await server.close()
        server.remove_socket()
        records.stop(controller)
        raise
    records.start(controller)
    loop_task = asyncio.create_task(controller.run(), name="control loop")
    code = EXIT_OK
    watchdog: asyncio.Task[None] | None = None
    unsubscribe: Callable[[], None] | None = None
    try:
        await server.start()
        ident = controller.identity
        summary = (f"{config.unit.kind.value} {ident.model if ident else '?'} on {url}; "
                   f"socket {path}")
        notifier.ready(f"{controller.treatment.phase.value}: {summary}")
        _log.info("control process ready", ready_ms=round((time.monotonic() - began) * 1000, 1),
                  phase=controller.treatment.phase.value, socket=str(path))
        unsubscribe = controller.subscribe(_status_line(notifier, summary))
        every = notifier.watchdog_interval_s()
        if every is not None:
            watchdog = asyncio.create_task(watchdog_pings(
                notifier, lambda: is_healthy(controller, loop_task, time.monotonic()),
                every_s=every / 2), name="watchdog")
        stopping = asyncio.create_task(stop_event.wait())
        done, _ = await asyncio.wait({stopping, loop_task}, return_when=asyncio.FIRST_COMPLETED)
        if loop_task in done:
            code = EXIT_LOOP_DIED
            _log.error("control loop ended by itself", error=_loop_error(loop_task))
        stopping.cancel()
    finally:
        notifier.stopping("stopping: closing the valve")
        if watchdog is not None:
            watchdog.cancel()
        if unsubscribe is not None:
            unsubscribe()
        await _step("control socket closed", server.close)
        controller.stop()
        await _step("control loop stopped, valve closed", lambda: _wait_loop(loop_task))
        await _step("unit link released", port.aclose)
        await _step("records written and closed", _records_stopper(records, controller))
        await _step("control socket removed", _sync(server.remove_socket))
        _log.info("control process stopped", code=code)
    return code


def _records_stopper(records: RecordsKit, controller: Controller
                     ) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await asyncio.to_thread(records.stop, controller)

    return stop


def _loop_error(task: asyncio.Task[None]) -> str | None:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return None if exc is None else _error_text(exc)


async def _wait_loop(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=_STEP_TIMEOUT_S)
    except TimeoutError:
        task.cancel()
        raise


def _sync(action: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        action()

    return run


async def _step(name: str, action: Callable[[], Awaitable[None]]) -> None:
    try:
        async with asyncio.timeout(_STEP_TIMEOUT_S):
            await action()
    except Exception as exc:  # each step alone: a failure here must not skip the next
        _log.exception(f"shut-down step failed: {name}", error=_error_text(exc))
    else:
        _log.info(name)


def _status_line(notifier: Notifier, summary: str) -> Callable[[Snapshot | ControlEvent], None]:
    def listener(item: Snapshot | ControlEvent) -> None:
        if isinstance(item, ControlEvent) and item.name == "state_changed":
            notifier.status(f"{item.data.get('after')}: {summary}")

    return listener


def main(config: Config) -> int:
    """Run the control process with SIGTERM/SIGINT wired to a clean stop; the exit status.

    Raises StartupFailed as :func:`run_control` does.
    """
    notifier = Notifier.from_env(unset_environment=True)

    async def run() -> int:
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_event.set)
        try:
            return await run_control(config, notifier=notifier, stop_event=stop_event)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(run())
    finally:
        notifier.close()
