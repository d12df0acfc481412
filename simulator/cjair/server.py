"""The CJ-Air unit on the wire: Modbus TCP and Modbus RTU on a pty.

A small server of its own rather than pymodbus' SimDevice hook, because the ICD asks
for what that hook cannot express: exception 0x02 for coil and input addresses inside
a packed 16-bit word, silence (not exception 0x04) for another device id on the line,
counted CRC errors, and per-frame link faults (drop, corrupt, delay, line timing).
Clients are pymodbus, mbpoll or anything else that speaks Modbus.

Timers at the unit's own deadlines (``loop.call_at``) make the watchdog, the opening
cap and valve travel act on time; a slower tick moves the continuous physics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Callable

from simulator.cjair import pdu as modbus
from simulator.cjair.rtu import exchange_time_s
from simulator.cjair.unit import CjAirUnit

log = logging.getLogger("simulator.cjair")

SERVER_DEVICE_FAILURE = 0x04
#: physics tick, real seconds.
TICK_S = 0.05
#: writes the unit executes when addressed by broadcast (device id 0).
_WRITES = (modbus.WRITE_COIL, modbus.WRITE_REGISTER, modbus.WRITE_COILS, modbus.WRITE_REGISTERS)


class UnitRunner:
    """Runs a unit's timers on the current loop and answers its requests one at a time.

    Create it inside the running loop that will serve the unit.
    """

    def __init__(self, unit: CjAirUnit, *, wire_baud: int | None = None) -> None:
        self.unit = unit
        self.wire_baud = wire_baud
        self._busy = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._tick_task = asyncio.create_task(self._tick(), name="cjair-physics")
        self._rng = random.Random()
        self._closers: list[Callable[[], object]] = []

    def _real_delay_s(self, sim_delay_s: float) -> float:
        scale: Callable[[float], float] | None = getattr(self.unit.clock, "real_delay_s", None)
        return scale(sim_delay_s) if scale is not None else max(0.0, sim_delay_s)

    def reschedule(self) -> None:
        """Arm one timer at the unit's next deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline_s = self.unit.next_deadline_s()
        if deadline_s is None:
            return
        delay_s = max(0.0005, self._real_delay_s(deadline_s - self.unit.clock()))
        self._timer = self._loop.call_at(self._loop.time() + delay_s, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self.unit.advance()
        self.reschedule()

    async def _tick(self) -> None:
        while True:
            try:
                self.unit.advance()
                self.reschedule()
            except Exception:  # a defect in the physics must not stop the unit's timers
                log.exception("cj-air physics tick failed")
            await asyncio.sleep(TICK_S)

    async def answer(self, request: bytes, *, wire_len: int) -> bytes | None:
        """The answer PDU to a request PDU addressed to this unit, after any link delays."""
        unit = self.unit
        async with self._busy:
            unit.count("frames_in")
            if unit.link.drop_all:
                unit.count("dropped")
                log.debug("cj-air dropped %s", request.hex(" "))
                return None
            try:
                unit.advance()
                answer = modbus.handle(unit, request)
            except Exception:  # a defect here must cost one answer, never the unit
                log.exception("cj-air could not handle %s", request.hex(" "))
                answer = modbus.exception(request[0] if request else 0, SERVER_DEVICE_FAILURE)
            self.reschedule()
            if modbus.is_exception(answer):
                unit.count("errors")
            delay_s = unit.link.delay_ms / 1000
            if self.wire_baud:
                delay_s += exchange_time_s(wire_len, len(answer) + 3, self.wire_baud)
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            unit.count("frames_out")
            return answer

    def broadcast(self, request: bytes) -> None:
        """Device id 0: execute writes, answer nothing."""
        self.unit.count("frames_in")
        if request and request[0] in _WRITES and not self.unit.link.drop_all:
            self.unit.advance()
            modbus.handle(self.unit, request)
            self.reschedule()

    def corrupt_now(self) -> bool:
        ratio = self.unit.link.corrupt_ratio
        return ratio > 0 and self._rng.random() < ratio

    def on_close(self, closer: Callable[[], object]) -> None:
        self._closers.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        self._tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tick_task
        if self._timer is not None:
            self._timer.cancel()


async def serve_tcp(runner: UnitRunner, host: str, port: int) -> tuple[str, int]:
    """Modbus TCP (MBAP framing); returns the bound address (``port=0`` picks one)."""
    sessions: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions[task] = writer
        try:
            await _tcp_session(runner, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("cj-air tcp client went away")
        finally:
            sessions.pop(task, None)
            writer.close()

    server = await asyncio.start_server(on_connect, host, port)

    async def stop() -> None:
        server.close()
        for writer in list(sessions.values()):
            writer.close()  # the session's pending read ends; its task returns
        if sessions:
            await asyncio.wait(list(sessions), timeout=2.0)
        await server.wait_closed()

    runner.on_close(stop)
    bound = server.sockets[0].getsockname()
    return bound[0], bound[1]


async def _tcp_session(
    runner: UnitRunner, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    unit = runner.unit
    while True:
        header = await reader.readexactly(7)
        tid, protocol, length, device_id = struct.unpack(">HHHB", header)
        if protocol != 0 or not 2 <= length <= 254:
            unit.count("errors")
            log.debug("cj-air tcp bad MBAP header %s; closing", header.hex(" "))
            return
        request = await reader.readexactly(length - 1)
        log.debug("cj-air tcp rx %s", (header + request).hex(" "))
        if device_id != unit.device_id:
            unit.count("foreign")
            continue
        answer = await runner.answer(request, wire_len=len(request) + 3)
        if answer is None:
            continue
        if runner.corrupt_now():
            tid ^= 0xFFFF  # no checksum on TCP: a wrong transaction id is what a client rejects
        frame = struct.pack(">HHHB", tid, 0, len(answer) + 1, device_id) + answer
        log.debug("cj-air tcp tx %s", frame.hex(" "))
        writer.write(frame)
        await writer.drain()
