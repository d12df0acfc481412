"""Run an N2 unit, its line server and its control channel on a loop in a daemon thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

from simulator.base import RealClock
from simulator.control import ControlServer, serve_control
from simulator.n2.server import N2LineServer, serve_pty, serve_tcp
from simulator.n2.unit import N2Unit

__all__ = ["N2Runner"]


class N2Runner:
    """``start()`` returns once the unit is reachable; ``stop()`` joins the thread."""

    def __init__(
        self,
        unit: N2Unit,
        clock: RealClock,
        *,
        pty_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wire_baud: int | None = None,
        control: bool = True,
    ) -> None:
        self.unit = unit
        self._clock = clock
        self._pty_path = pty_path
        self._bind = (host, port)
        self._wire_baud = wire_baud
        self._want_control = control
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="n2-sim", daemon=True)
        self._line: N2LineServer | None = None
        self._control: ControlServer | None = None
        self.host: str | None = None
        self.port: int | None = None
        self.control_url: str | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                gathered = asyncio.gather(*pending, return_exceptions=True)
                self._loop.run_until_complete(gathered)
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _start(self) -> None:
        if self._pty_path is not None:
            self._line = await serve_pty(
                self.unit, self._clock, self._pty_path, wire_baud=self._wire_baud
            )
        else:
            tcp = await serve_tcp(self.unit, self._clock, *self._bind, wire_baud=self._wire_baud)
            self._line = tcp
            self.host, self.port = tcp.host, tcp.port
        if self._want_control:
            self._control = await serve_control(self.unit, "127.0.0.1", 0)
            self.control_url = self._control.url

    async def _stop(self) -> None:
        if self._control is not None:
            await self._control.close()
        if self._line is not None:
            await self._line.close()

    def start(self, *, timeout_s: float = 10.0) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout=timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, timeout_s: float = 10.0) -> None:
        if not self._thread.is_alive():
            self._loop.close()
            return
        future = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        try:
            future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=timeout_s)
