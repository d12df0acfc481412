"""A scriptable Modbus TCP peer on 127.0.0.1 for driver bus tests.

It speaks the real wire format over a real socket, keeps a history of every request,
and can stay silent, answer late, answer with an exception or drop the connection, so
the bus's timeouts, retries, priorities and reconnects are tested from the outside.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    function_code: int
    address: int
    payload: bytes
    at_s: float


@dataclass
class ModbusPeer:
    coils: list[bool] = field(default_factory=lambda: [False] * 5)
    discretes: list[bool] = field(default_factory=lambda: [False] * 7)
    inputs: list[int] = field(default_factory=lambda: [0] * 11)
    holdings: list[int] = field(default_factory=lambda: [3, 0xFED4, 0, 1000, 20000])
    history: list[Request] = field(default_factory=list)
    #: answer nothing to the next N requests
    silent: int = 0
    #: answer nothing to the next N requests of a function code
    silent_for: dict[int, int] = field(default_factory=dict)
    #: seconds to wait before each answer
    delay_s: float = 0.0
    #: answer the next requests with this exception code
    exception_code: int | None = None
    #: holding addresses whose written value is ignored (read-back differs)
    sticky_holdings: frozenset[int] = frozenset()
    #: rewrites each whole answer (MBAP header and PDU) before it is sent
    mangle: Callable[[bytes], bytes] | None = None
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"modbus+tcp://127.0.0.1:{self.port}?device_id=1"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_connections()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=1.0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_connections(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    def functions(self) -> list[int]:
        return [r.function_code for r in self.history]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _proto, length, unit = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                fc, address = pdu[0], struct.unpack(">H", pdu[1:3])[0]
                self.history.append(
                    Request(fc, address, pdu[3:], asyncio.get_running_loop().time())
                )
                if self.silent > 0:
                    self.silent -= 1
                    continue
                if self.silent_for.get(fc, 0) > 0:
                    self.silent_for[fc] -= 1
                    continue
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                answer = self._answer(fc, address, pdu)
                frame = struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer
                writer.write(self.mangle(frame) if self.mangle is not None else frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, fc: int, address: int, pdu: bytes) -> bytes:
        if self.exception_code is not None:
            return bytes([fc | 0x80, self.exception_code])
        if fc in (1, 2):
            count = struct.unpack(">H", pdu[3:5])[0]
            table = self.coils if fc == 1 else self.discretes
            bits = table[address : address + count]
            packed = bytearray((count + 7) // 8)
            for i, bit in enumerate(bits):
                if bit:
                    packed[i // 8] |= 1 << (i % 8)
            return bytes([fc, len(packed)]) + bytes(packed)
        if fc in (3, 4):
            count = struct.unpack(">H", pdu[3:5])[0]
            table = self.holdings if fc == 3 else self.inputs
            words = table[address : address + count]
            return bytes([fc, 2 * len(words)]) + struct.pack(f">{len(words)}H", *words)
        if fc == 5:
            self.coils[address] = pdu[3] == 0xFF
            return pdu
        if fc == 6:
            if address not in self.sticky_holdings:
                self.holdings[address] = struct.unpack(">H", pdu[3:5])[0]
            return pdu
        if fc == 16:
            count = struct.unpack(">H", pdu[3:5])[0]
            values = struct.unpack(f">{count}H", pdu[6 : 6 + 2 * count])
            for i, value in enumerate(values):
                if address + i not in self.sticky_holdings:
                    self.holdings[address + i] = value
            return pdu[:5]
        return bytes([fc | 0x80, 1])
