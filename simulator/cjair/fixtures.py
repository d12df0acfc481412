"""pytest fixtures: a CJ-Air unit on a free TCP port or a pty, with its control channel.

Each unit runs on an event loop of its own in a daemon thread; the handle's ``unit``
is the thread-safe in-process control API, ``control_url`` the HTTP one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import itertools
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from simulator.base import RealClock
from simulator.cjair.rtu_server import serve_rtu
from simulator.cjair.server import UnitRunner, serve_tcp
from simulator.cjair.unit import CjAirUnit
from simulator.control import ControlServer, serve_control

T = TypeVar("T")
_names = itertools.count(1)


@dataclasses.dataclass
class CjAirHandle:
    url: str
    unit: CjAirUnit
    control_url: str
    host: str | None = None
    port: int | None = None
    path: str | None = None
    device: str | None = None


class LoopThread:
    """An event loop in a daemon thread; ``call`` runs a coroutine there and waits for it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], *, timeout_s: float = 10.0) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, *, timeout_s: float = 5.0) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        with contextlib.suppress(concurrent.futures.TimeoutError):
            self.call(drain(), timeout_s=timeout_s)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def running_cjair(
    *,
    transport: Literal["tcp", "rtu"] = "tcp",
    path: str | Path | None = None,
    device_id: int = 1,
    speed: float = 1.0,
    valve_lag_ms: float = 30.0,
    wire_baud: int | None = None,
    nozzle: str | None = "R10",
    watchdog_ms: int = 1000,
    max_open_ms: int = 20000,
) -> Iterator[CjAirHandle]:
    """Start a CJ-Air unit (TCP on 127.0.0.1, or RTU on a pty linked at ``path``)."""
    if transport == "rtu" and path is None:
        raise ValueError("an RTU unit needs a path for its pty link")
    unit = CjAirUnit(
        clock=RealClock(speed),
        device_id=device_id,
        valve_lag_ms=valve_lag_ms,
        nozzle=nozzle,
        watchdog_ms=watchdog_ms,
        max_open_ms=max_open_ms,
    )
    thread = LoopThread(f"cjair-sim-{next(_names)}")
    started: list[UnitRunner | ControlServer] = []

    async def start() -> CjAirHandle:
        runner = UnitRunner(unit, wire_baud=wire_baud)
        started.append(runner)
        control = await serve_control(unit, "127.0.0.1", 0)
        started.append(control)
        if transport == "tcp":
            host, port = await serve_tcp(runner, "127.0.0.1", 0)
            url = f"modbus+tcp://{host}:{port}?device_id={device_id}"
            return CjAirHandle(url, unit, control.url, host=host, port=port)
        link = str(path)
        device = await serve_rtu(runner, link)
        url = f"modbus+rtu://{link}?baud=19200&parity=E&device_id={device_id}"
        return CjAirHandle(url, unit, control.url, path=link, device=device)

    async def stop() -> None:
        for part in reversed(started):
            await part.close()

    try:
        yield thread.call(start())
    finally:
        try:
            thread.call(stop())
        finally:
            thread.stop()


@pytest.fixture
def cjair_tcp() -> Iterator[CjAirHandle]:
    """A CJ-Air unit on Modbus TCP at a free port on 127.0.0.1 (device id 1)."""
    with running_cjair(transport="tcp") as handle:
        yield handle


@pytest.fixture
def cjair_rtu(tmp_path: Path) -> Iterator[CjAirHandle]:
    """A CJ-Air unit on Modbus RTU; ``path`` is a symlink to its pty (19200 8E1, id 1)."""
    with running_cjair(transport="rtu", path=tmp_path / "cjair-rtu") as handle:
        yield handle


@pytest.fixture
def cjair_factory(tmp_path: Path) -> Iterator[Callable[..., CjAirHandle]]:
    """Start units with options (see ``running_cjair``), e.g.
    ``cjair_factory(transport="rtu", speed=10, valve_lag_ms=80, watchdog_ms=5000)``."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> CjAirHandle:
            if options.get("transport") == "rtu" and "path" not in options:
                options["path"] = tmp_path / f"cjair-{next(_names)}"
            return stack.enter_context(running_cjair(**options))

        yield start
