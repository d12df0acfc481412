"""A real-time controller on the fake unit, served on a real Unix socket, for in-process tests.

The clock is ``time.monotonic``, so the fake unit's history is stamped on the same
clock the test reads when a reply arrives. Raw-line helpers talk to the socket
without the client, for what the client would never send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryoctl.control.controller import Controller
from cryoctl.control.socket_server import ControlServer
from cryoctl.core.alarms import AlarmManager
from cryoctl.core.fake_unit import N2_CAPABILITIES, FakeUnit
from cryoctl.core.port import Capabilities
from cryoctl.core.supervisor import SafetySupervisor
from cryoctl.core.treatment import Treatment


@dataclass
class Served:
    unit: FakeUnit
    controller: Controller
    server: ControlServer
    path: Path
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def serve(
    folder: Path,
    *,
    caps: Capabilities = N2_CAPABILITIES,
    nozzle: str | None = "M",
    period_s: float = 0.02,
    **server_options: Any,
) -> AsyncIterator[Served]:
    unit = FakeUnit(caps, time.monotonic)
    unit.inputs.nozzle = nozzle
    treatment = Treatment(caps, AlarmManager(), control_period_s=period_s)
    controller = Controller(unit, treatment, SafetySupervisor(control_period_s=period_s),
                            clock=time.monotonic, period_s=period_s)
    await controller.start()
    task = asyncio.create_task(controller.run())
    path = folder / "control.sock"
    server = ControlServer(controller, path, **server_options)
    await server.start()
    try:
        yield Served(unit, controller, server, path, task)
    finally:
        await server.close()
        server.remove_socket()
        controller.stop()
        await asyncio.wait_for(task, 5)


class Raw:
    """A bare connection: send bytes, read JSON lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: Path) -> Raw:
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self, timeout_s: float = 2.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.reader.readline(), timeout_s)
        assert raw, "connection closed"
        value: dict[str, Any] = json.loads(raw)
        return value

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.send(json.dumps({"v": 1, **request}).encode() + b"\n")
        return await self.line()

    async def closed(self, timeout_s: float = 2.0) -> bool:
        """Whether the server closes the connection (EOF) within ``timeout_s``."""
        try:
            while True:
                raw = await asyncio.wait_for(self.reader.readline(), timeout_s)
                if not raw:
                    return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
