"""The control channel: HTTP + JSON over a ``SimUnit`` for tests, developers and demos.

Routes (every POST answers with the unit's state after the change):

- ``GET /state``
- ``GET /clock``: the unit's clock and this host's ``time.monotonic()`` read together,
  so a benchmark on the same machine can put the unit's timestamps on its own clock
- ``GET /polls``: the unit's clock at each of the host's latest status polls, where
  the unit keeps them (404 where it does not)
- ``POST /trigger {"pressed": bool}``, ``/estop {"pressed": bool}``,
  ``/nozzle {"code": str | null}``, ``/hose {"connected": bool}``,
  ``/skin {"on_skin": bool}``, ``/o2 {"pct": number}``, ``/level {"pct": number}``
- ``POST /fault {"name": str, "active": bool, "value": number | null}``

A malformed body gets 422 (pydantic's detail); a value or control the unit refuses
gets 400 with ``{"error": "...", "field": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool

from simulator.base import SimUnit, UnsupportedControl

__all__ = ["ControlServer", "make_control_app", "serve_control"]

log = logging.getLogger(__name__)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PressedBody(_Body):
    pressed: StrictBool


class NozzleBody(_Body):
    code: str | None


class HoseBody(_Body):
    connected: StrictBool


class SkinBody(_Body):
    on_skin: StrictBool


class PctBody(_Body):
    pct: float


class FaultBody(_Body):
    name: str
    active: StrictBool
    value: float | None = None


def _apply(unit: SimUnit, field: str, action: Callable[[], None]) -> JSONResponse:
    try:
        action()
    except UnsupportedControl as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=400)
    except ValueError as exc:
        return JSONResponse({"error": f"{field}: {exc}", "field": field}, status_code=400)
    return JSONResponse(unit.state())


def make_control_app(unit: SimUnit) -> FastAPI:
    """A FastAPI app driving ``unit``. Handlers are async and short (the unit locks)."""
    app = FastAPI(title=f"{unit.kind} simulator control", version="1")

    @app.get("/state")
    async def get_state() -> dict[str, Any]:
        return unit.state()

    @app.get("/clock")
    async def get_clock() -> dict[str, float]:
        return {"t_s": unit.clock(), "monotonic_s": time.monotonic()}

    @app.get("/polls", response_model=None)
    async def get_polls() -> dict[str, list[float]] | JSONResponse:
        polls = getattr(unit, "poll_times_s", None)
        if polls is None:
            return JSONResponse({"error": f"the {unit.kind} unit keeps no poll log",
                                 "field": "polls"}, status_code=404)
        times: list[float] = polls()
        return {"t_s": times}

    @app.post("/trigger")
    async def trigger(body: PressedBody) -> JSONResponse:
        return _apply(unit, "trigger", lambda: unit.set_trigger(body.pressed))

    @app.post("/estop")
    async def estop(body: PressedBody) -> JSONResponse:
        return _apply(unit, "estop", lambda: unit.set_estop(body.pressed))

    @app.post("/nozzle")
    async def nozzle(body: NozzleBody) -> JSONResponse:
        return _apply(unit, "nozzle", lambda: unit.set_nozzle(body.code))

    @app.post("/hose")
    async def hose(body: HoseBody) -> JSONResponse:
        return _apply(unit, "hose", lambda: unit.set_hose(body.connected))

    @app.post("/skin")
    async def skin(body: SkinBody) -> JSONResponse:
        return _apply(unit, "skin", lambda: unit.set_skin(body.on_skin))

    @app.post("/o2")
    async def o2(body: PctBody) -> JSONResponse:
        return _apply(unit, "o2", lambda: unit.set_o2(body.pct))

    @app.post("/level")
    async def level(body: PctBody) -> JSONResponse:
        return _apply(unit, "level", lambda: unit.set_level(body.pct))

    @app.post("/fault")
    async def fault(body: FaultBody) -> JSONResponse:
        return _apply(unit, "fault", lambda: unit.set_fault(body.name, body.active, body.value))

    return app


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ControlServer:
    """A running control channel; ``await close()`` stops it."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], sock: socket.socket):
        self._server = server
        self._task = task
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self, *, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=timeout_s)
        except TimeoutError:
            log.warning("control channel did not stop within %.1f s; cancelling", timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._sock.close()


async def serve_control(
    unit: SimUnit, host: str = "127.0.0.1", port: int = 0, *, start_timeout_s: float = 5.0
) -> ControlServer:
    """Start the control channel on the running loop (``port=0`` picks a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    config = uvicorn.Config(
        make_control_app(unit), log_level="warning", access_log=False, lifespan="off"
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="sim-control")
    deadline = asyncio.get_running_loop().time() + start_timeout_s
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises the start-up error
            raise OSError(f"control channel on {host}:{port} stopped during start-up")
        if asyncio.get_running_loop().time() > deadline:
            task.cancel()
            sock.close()
            raise TimeoutError(f"control channel on {host}:{port} did not start")
        await asyncio.sleep(0.005)
    return ControlServer(server, task, sock)
