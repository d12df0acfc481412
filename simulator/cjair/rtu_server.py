"""Modbus RTU on a pseudo-terminal: ``path`` becomes a symlink to the pty's device.

The unit holds the pty's master; a client opens the device (or the symlink) as a
serial port. A pty ignores baud rate and parity, so a frame ends either where its
function code says or, for anything else, at a silent gap on the line; a frame whose
CRC fails is counted and left unanswered, as on RS-485.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty

from simulator.cjair.rtu import crc_ok, request_size, with_crc
from simulator.cjair.server import UnitRunner

log = logging.getLogger("simulator.cjair")

#: silence that ends a frame whose length the function code does not give, real seconds.
GAP_S = 0.01


class _PtyLine:
    def __init__(self, runner: UnitRunner, master_fd: int, *, gap_s: float) -> None:
        self.runner = runner
        self.master_fd = master_fd
        self.gap_s = gap_s
        self.buffer = bytearray()
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.gap_timer: asyncio.TimerHandle | None = None
        self.worker = asyncio.create_task(self._work(), name="cjair-rtu")

    def readable(self) -> None:
        try:
            data = os.read(self.master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO while no client holds the device: nothing to read
            log.debug("cj-air rtu read: %s", exc)
            return
        self.buffer += data
        self._split()
        if self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None
        if self.buffer:
            self.gap_timer = self.loop.call_later(self.gap_s, self._gap)

    def _split(self) -> None:
        while True:
            size = request_size(self.buffer)
            if size is None or len(self.buffer) < size or not crc_ok(bytes(self.buffer[:size])):
                return
            self.frames.put_nowait(bytes(self.buffer[:size]))
            del self.buffer[:size]

    def _gap(self) -> None:
        self.gap_timer = None
        frame, self.buffer = bytes(self.buffer), bytearray()
        if crc_ok(frame):
            self.frames.put_nowait(frame)
        elif frame:
            self.runner.unit.count("crc_errors")
            log.debug("cj-air rtu bad frame %s", frame.hex(" "))

    async def _work(self) -> None:
        runner = self.runner
        while True:
            frame = await self.frames.get()
            log.debug("cj-air rtu rx %s", frame.hex(" "))
            address, request = frame[0], frame[1:-2]
            if address == 0:
                runner.broadcast(request)
                continue
            if address != runner.unit.device_id:
                runner.unit.count("foreign")
                continue
            answer = await runner.answer(request, wire_len=len(frame))
            if answer is None:
                continue
            adu = with_crc(bytes([address]) + answer)
            if runner.corrupt_now():
                adu = adu[:-1] + bytes([adu[-1] ^ 0xFF])
            log.debug("cj-air rtu tx %s", adu.hex(" "))
            try:
                os.write(self.master_fd, adu)
            except (BlockingIOError, OSError) as exc:
                runner.unit.count("dropped")
                log.debug("cj-air rtu write: %s", exc)

    async def close(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
        self.worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.worker


def open_pty_link(path: str) -> tuple[int, int, str]:
    """A raw pty with ``path`` linked to its device: (master fd, device fd, device name)."""
    if os.path.lexists(path) and not os.path.islink(path):
        raise FileExistsError(f"{path} exists and is not a symlink; refusing to replace it")
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)  # the unit keeps this end open, so the master never sees a hang-up
    os.set_blocking(master_fd, False)
    device = os.ttyname(slave_fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.symlink(device, path)
    return master_fd, slave_fd, device


async def serve_rtu(runner: UnitRunner, path: str, *, gap_s: float = GAP_S) -> str:
    """Serve Modbus RTU on a new pty and link ``path`` to it; returns the pty's device name."""
    master_fd, slave_fd, device = open_pty_link(path)
    line = _PtyLine(runner, master_fd, gap_s=gap_s)
    loop = asyncio.get_running_loop()
    loop.add_reader(master_fd, line.readable)

    async def stop() -> None:
        loop.remove_reader(master_fd)
        await line.close()
        with contextlib.suppress(OSError):
            if os.readlink(path) == device:
                os.unlink(path)
        os.close(master_fd)
        os.close(slave_fd)

    runner.on_close(stop)
    return device
