"""The N2 unit on a wire: a pty or a TCP port, served from the running asyncio loop.

One ``N2LineServer`` owns the unit's timing: a timer set with ``loop.call_at`` at the
exact next deadline (lease end, watchdog), a coarse physics tick, and one writer task
that sends the unit's lines in order, each after the link-fault delay (answers only)
and, with ``wire_baud``, after its frame time on a real 8N1 line.

Decisions:

- pty: ``os.openpty()``, raw mode on the slave, ``path`` a symlink to the slave's
  device name. The server keeps the slave open, so the line settings hold between
  clients and what the unit sends waits in the pty until someone reads it, as on a
  port that stays open: a host should flush its input when it opens the port.
- TCP: one client at a time. A second connection while one is open is refused (closed
  at once, logged); the line is free again as soon as the first client goes.
  Each new client starts with an empty line buffer. A client may reconnect at once: if
  the one holding the line has already closed or reset its end when the next one is
  accepted (the kernel knows, the loop has not read it yet), the next one waits, not
  read, until the old one's last bytes and its close are handled, then gets the line.
- A line that cannot be written because the pty's buffer is full is dropped (logged
  at debug level; a UART whose reader is gone loses bytes too). On TCP with no client
  connected, what the unit sends is discarded, as on a line with nothing attached.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import select
import tty
from pathlib import Path
from typing import Protocol

from simulator.n2.unit import N2Unit, Outgoing

__all__ = ["N2LineServer", "serve_pty", "serve_tcp"]

log = logging.getLogger(__name__)

_TICK_S = 0.05
_BITS_PER_CHAR_8N1 = 10


class _ScaledClock(Protocol):
    def __call__(self) -> float: ...

    def real_delay_s(self, sim_delay_s: float) -> float: ...


class N2LineServer(abc.ABC):
    """Timers, physics tick and the ordered writer for one unit; subclasses add a wire."""

    def __init__(self, unit: N2Unit, clock: _ScaledClock, *, wire_baud: int | None = None) -> None:
        if wire_baud is not None and wire_baud <= 0:
            raise ValueError(f"wire_baud must be > 0, got {wire_baud!r}")
        self.unit = unit
        self._clock = clock
        self._wire_baud = wire_baud
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks = [
            asyncio.create_task(self._writer(), name="n2-writer"),
            asyncio.create_task(self._ticker(), name="n2-tick"),
        ]
        self._closed = False
        unit.set_listener(self._wake_threadsafe)
        self._reschedule()

    # -- the wire, for subclasses -------------------------------------------------------

    @abc.abstractmethod
    def _write(self, data: bytes) -> None:
        """Put ``data`` on the wire (or drop it if nobody is there)."""

    def _on_bytes(self, data: bytes) -> None:
        log.debug("n2 rx %r", data)
        for item in self.unit.receive(data):
            self._queue.put_nowait(item)
        self._reschedule()

    # -- timing -------------------------------------------------------------------------

    def _wake_threadsafe(self) -> None:
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # the loop closed under a late caller
                self._loop.call_soon_threadsafe(self._pump)

    def _pump(self) -> None:
        if self._closed:
            return
        for item in self.unit.take_output():
            self._queue.put_nowait(item)
        self._reschedule()

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due_s = self.unit.next_deadline_s()
        if due_s is None or self._closed:
            return
        delay_s = self._clock.real_delay_s(due_s - self._clock())
        self._timer = self._loop.call_at(self._loop.time() + delay_s, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self.unit.advance()
        self._pump()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            self.unit.advance()
            self._pump()

    async def _writer(self) -> None:
        while True:
            item = await self._queue.get()
            delay_s = self.unit.link.delay_ms / 1000.0 if item.answer else 0.0
            if self._wire_baud is not None:
                delay_s += len(item.data) * _BITS_PER_CHAR_8N1 / self._wire_baud
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            log.debug("n2 tx %r", item.data)
            self._write(item.data)

    async def close(self) -> None:
        self._closed = True
        self.unit.set_listener(None)
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _PtyServer(N2LineServer):
    def __init__(
        self, unit: N2Unit, clock: _ScaledClock, path: Path, *, wire_baud: int | None
    ) -> None:
        self.path = path
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        try:
            if path.is_symlink():
                path.unlink()
            path.symlink_to(self.device)
            super().__init__(unit, clock, wire_baud=wire_baud)
        except BaseException:
            os.close(self._master)
            os.close(self._slave)
            raise
        self._loop.add_reader(self._master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            log.warning("n2 pty read failed: %s", exc)
            return
        self._on_bytes(data)

    def _write(self, data: bytes) -> None:
        try:
            sent = os.write(self._master, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            log.warning("n2 pty write failed: %s", exc)
            return
        if sent < len(data):
            log.debug("n2 pty full: dropped %d of %d bytes", len(data) - sent, len(data))

    async def close(self) -> None:
        self._loop.remove_reader(self._master)
        await super().close()
        os.close(self._master)
        os.close(self._slave)
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_symlink() and os.readlink(self.path) == self.device:
                self.path.unlink()


class _TcpLine(asyncio.Protocol):
    """One TCP connection; it feeds the unit only while it holds the line."""

    def __init__(self, server: _TcpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._arrived(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None and self._server.client is self._transport:
            self._server._on_bytes(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server._gone(self._transport)


def _peer_hung_up(transport: asyncio.Transport) -> bool:
    """The peer has closed or reset its end, though the loop may not have read that yet.

    POLLRDHUP (Linux) reports a FIN even behind unread data; POLLHUP and POLLERR, which
    poll always reports, a reset.
    """
    if transport.is_closing():
        return True
    poller = select.poll()
    poller.register(transport.get_extra_info("socket").fileno(), select.POLLRDHUP)
    return bool(poller.poll(0))


class _TcpServer(N2LineServer):
    def __init__(self, unit: N2Unit, clock: _ScaledClock, *, wire_baud: int | None) -> None:
        super().__init__(unit, clock, wire_baud=wire_baud)
        self.client: asyncio.Transport | None = None
        self._next: asyncio.Transport | None = None  # not read until the client has gone
        self._listener: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    def _arrived(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        if self.client is None:
            self._hand_over(transport)
        elif self._next is None and _peer_hung_up(self.client):
            # The old client's last bytes and its close are still to be read: this one
            # gets the line after them, so nothing of the two mixes on the line.
            log.info("n2 tcp: client %s waits for the last one to be gone", peer)
            transport.pause_reading()
            self._next = transport
        else:
            log.info("n2 tcp: refused %s, the line is in use", peer)
            transport.close()

    def _gone(self, transport: asyncio.Transport) -> None:
        if transport is self._next:
            self._next = None
        elif transport is self.client:
            log.info("n2 tcp: client gone")
            self.client = None
            waiting, self._next = self._next, None
            if waiting is not None:
                self._hand_over(waiting)
                waiting.resume_reading()

    def _hand_over(self, transport: asyncio.Transport) -> None:
        log.info("n2 tcp: client %s", transport.get_extra_info("peername"))
        self.client = transport
        self.unit.reset_line()

    async def start(self, host: str, port: int) -> None:
        self._listener = await self._loop.create_server(lambda: _TcpLine(self), host, port)
        self.host, self.port = self._listener.sockets[0].getsockname()[:2]

    def _write(self, data: bytes) -> None:
        if self.client is not None:
            self.client.write(data)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for transport in (self._next, self.client):
            if transport is not None:
                transport.abort()
        self.client = self._next = None
        if self._listener is not None:
            await self._listener.wait_closed()
        await super().close()


async def serve_pty(
    unit: N2Unit, clock: _ScaledClock, path: str | Path, *, wire_baud: int | None = None
) -> _PtyServer:
    """Serve ``unit`` on a new pty; ``path`` becomes a symlink to its device."""
    return _PtyServer(unit, clock, Path(path), wire_baud=wire_baud)


async def serve_tcp(
    unit: N2Unit, clock: _ScaledClock, host: str, port: int, *, wire_baud: int | None = None
) -> _TcpServer:
    """Serve ``unit`` as raw bytes on TCP (``port=0`` picks a free port)."""
    server = _TcpServer(unit, clock, wire_baud=wire_baud)
    try:
        await server.start(host, port)
    except BaseException:
        await server.close()
        raise
    return server
