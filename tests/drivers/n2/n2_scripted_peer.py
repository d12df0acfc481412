"""A scripted N2 peer on a real TCP socket or pty, for the driver's own edge cases.

It frames lines on its own (not with the driver's codec), answers every command
from a table the test may change, keeps what it received, and can push events.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import reduce

Answer = list[str] | None  # bodies to send in order; None: stay silent

DEFAULT_ID = "N2-CRYO,SN0042,1.3.0"
DEFAULT_STAT = "0,0,0,A,50,80,-1850,209,0000"


def line(body: str) -> bytes:
    ck = reduce(lambda acc, b: acc ^ b, body.encode(), 0)
    return f"${body}*{ck:02X}\r\n".encode()


def default_answer(body: str) -> Answer:
    name, *args = body.split(",")
    if name == "ID":
        return [f"OK,ID,{DEFAULT_ID}"]
    if name == "STAT":
        return [f"OK,STAT,{DEFAULT_STAT}"]
    if name in ("CLOSE", "RESET"):
        return [f"OK,{name}"]
    return [f"OK,{name}," + ",".join(args)]


class ScriptedPeer:
    """The unit side of the wire. ``script[name]`` overrides the answer to a command."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.script: dict[str, Callable[[str], Answer]] = {}
        self.delay_s: dict[str, float] = {}
        self._write: Callable[[bytes], None] | None = None
        self._buf = b""
        self.server: asyncio.Server | None = None
        self.master_fd: int | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.serving: set[asyncio.Task[None]] = set()

    # -- transports --------------------------------------------------------------
    async def start_tcp(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"n2+socket://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self._write = writer.write
        task = asyncio.current_task()
        assert task is not None
        self.serving.add(task)
        try:
            while data := await reader.read(4096):
                await self._feed(data)
        except ConnectionError:
            return
        finally:
            writer.close()
            self.serving.discard(task)

    def start_pty(self) -> str:
        master, slave = os.openpty()
        self.master_fd = master
        path = os.ttyname(slave)
        self._slave_fd = slave
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._on_master)
        self._write = lambda data: os.write(master, data) and None
        return f"n2+serial://{path}?baud=115200"

    def _on_master(self) -> None:
        assert self.master_fd is not None
        try:
            data = os.read(self.master_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            return
        asyncio.get_running_loop().create_task(self._feed(data))

    async def drop_connections(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def aclose(self) -> None:
        await self.drop_connections()
        if self.serving:
            await asyncio.wait(self.serving, timeout=2.0)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self.master_fd is not None:
            asyncio.get_running_loop().remove_reader(self.master_fd)
            os.close(self.master_fd)
            os.close(self._slave_fd)

    # -- protocol ----------------------------------------------------------------
    def send(self, body: str) -> None:
        assert self._write is not None
        self._write(line(body))

    def send_raw(self, data: bytes) -> None:
        assert self._write is not None
        self._write(data)

    async def _feed(self, data: bytes) -> None:
        self._buf += data
        while b"\r\n" in self._buf:
            raw, self._buf = self._buf.split(b"\r\n", 1)
            body = raw[raw.index(b"$") + 1 : raw.rindex(b"*")].decode()
            self.received.append(body)
            name = body.split(",")[0]
            answer = self.script.get(name, default_answer)(body)
            delay_s = self.delay_s.get(name, 0.0)
            if delay_s:
                await asyncio.sleep(delay_s)
            for out in answer or []:
                self.send(out)

    def names(self) -> list[str]:
        return [body.split(",")[0] for body in self.received]
