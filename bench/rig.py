"""The device under measurement: a simulated unit, the control process and the panel server.

Each is a real process of its own, started the way ``cryoctl run --simulate`` starts
them (the unit on loopback TCP or a pty, reached through the real driver), with a
config written to a scratch folder. The bench talks to them from outside only: the
panel server over HTTP and WebSocket, the control process over its socket, the unit
over its control channel (``GET /clock`` puts the unit's timestamps on this
machine's monotonic clock, which the control process also uses).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from cryoctl.client import ControlClient
from cryoctl.pins import hash_pin, random_pin

__all__ = ["Device", "DeviceSpec", "cpu_s", "free_port", "rss_mb", "start_device"]

#: How long a process may take to come up before the bench gives up on it.
START_TIMEOUT_S: Final = 30.0
#: The CJ-Air cooler starts warm and needs time to reach the set-point.
COOLER_TIMEOUT_S: Final = 120.0
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident set size in MB (``/proc/PID/statm``)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * _PAGE / 1e6


@dataclass(frozen=True)
class DeviceSpec:
    """Which unit, over which wire, with or without the panel server."""

    kind: str  # "n2" | "cj-air"
    wire: str = "tcp"  # "tcp" | "pty"
    wire_baud: int | None = None
    panel: bool = True
    nozzle: str | None = None
    #: tells apart two devices of one kind that must not be shared between figures
    tag: str = ""

    @property
    def label(self) -> str:
        baud = f" {self.wire_baud} baud" if self.wire_baud else ""
        return f"{self.kind} {self.wire}{baud}"


@dataclass
class Device:
    spec: DeviceSpec
    folder: Path
    socket_path: Path
    sim: subprocess.Popen[bytes]
    control: subprocess.Popen[bytes]
    panel: subprocess.Popen[bytes] | None
    api: httpx.AsyncClient
    unit: httpx.AsyncClient
    unit_url: str
    pins: dict[str, str]
    #: spawn of the control process -> READY=1 on its notify socket, seconds
    ready_s: float
    #: spawn of the simulator -> its READY line, seconds
    sim_ready_s: float
    #: add to a unit timestamp to get this machine's monotonic time
    offset_s: float = 0.0
    tokens: dict[str, str] = field(default_factory=dict)

    async def unit_state(self) -> dict[str, Any]:
        answer = await self.unit.get("/state")
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    async def unit_set(self, what: str, body: dict[str, Any]) -> None:
        answer = await self.unit.post(f"/{what}", json=body)
        if answer.status_code != 200:
            raise RuntimeError(f"unit {what} {body}: {answer.status_code} {answer.text}")

    async def sync_clock(self, *, samples: int = 5) -> None:
        """The unit's clock against ours, read in one request (speed 1: a fixed offset)."""
        offsets = []
        for _ in range(samples):
            clock = (await self.unit.get("/clock")).json()
            offsets.append(clock["monotonic_s"] - clock["t_s"])
        offsets.sort()
        self.offset_s = offsets[len(offsets) // 2]

    async def login(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            answer = await self.api.post("/api/v1/login", json={"pin": self.pins[role]})
            answer.raise_for_status()
            self.tokens[role] = answer.json()["token"]
        return {"authorization": f"Bearer {self.tokens[role]}"}

    def client(self) -> ControlClient:
        return ControlClient(self.socket_path, timeout_s=10.0)


def _config_text(folder: Path, spec: DeviceSpec, unit_url: str, panel_port: int,
                 pins: dict[str, str]) -> str:
    return "\n".join([
        "[unit]", f'kind = "{spec.kind}"', f'url = "{unit_url}"', "",
        "[control]", f'socket_path = "{folder / "control.sock"}"', "",
        "[api]", 'bind = "127.0.0.1"', f"port = {panel_port}", "",
        "[data]", f'dir = "{folder}"', "",
        "[log]", 'format = "json"', "",
        "[auth]", f'staff_pin_hash = "{hash_pin(pins["staff"])}"',
        f'technician_pin_hash = "{hash_pin(pins["technician"])}"', "",
    ])


def _spawn(args: list[str], log: Path, *, env: dict[str, str] | None = None,
           stdout: int | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cryoctl", *args], stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else out,
            stderr=out, env=env, start_new_session=True,
        )


def _sim_ready(proc: subprocess.Popen[bytes], log: Path) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("READY "):
        raise RuntimeError(f"the simulator did not start: {line!r} (see {log})")
    # keep its stdout read, or a full pipe would stall it
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return line


class _Notify:
    """The control process's ``$NOTIFY_SOCKET``: the time READY=1 arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.fspath(path))
        self.sock.settimeout(START_TIMEOUT_S)

    def wait_ready(self) -> float:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            data = self.sock.recv(4096)
            if b"READY=1" in data.split(b"\n"):
                return time.monotonic()
        raise RuntimeError("the control process sent no READY=1")

    def close(self) -> None:
        self.sock.close()


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _until(what: str, check: Any, *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError, OSError):
            value = await check()
            if value:
                return value
        await asyncio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


@asynccontextmanager
async def start_device(spec: DeviceSpec, folder: Path) -> AsyncIterator[Device]:
    """Start the unit, the control process and (if asked) the panel server; stop them after."""
    (folder / "profiles").mkdir(parents=True, exist_ok=True)
    log = folder / "bench.log"
    control_port, panel_port = free_port(), free_port()
    sim_args = ["sim", spec.kind, "--control", f"127.0.0.1:{control_port}",
                "--log-level", "warning"]
    if spec.wire == "tcp":
        sim_args += ["--tcp", f"127.0.0.1:{free_port()}"]
    else:
        sim_args += ["--rtu" if spec.kind == "cj-air" else "--pty", str(folder / "unit.pty")]
    if spec.wire_baud:
        sim_args += ["--wire-baud", str(spec.wire_baud)]
    if spec.nozzle and spec.kind == "n2":
        sim_args += ["--nozzle", spec.nozzle]
    pins = {"staff": random_pin(), "technician": random_pin()}
    sim = control = panel = None
    notify = _Notify(folder / "notify.sock")
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{panel_port}", timeout=10)
    unit = httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=10)
    try:
        started = time.monotonic()
        sim = _spawn(sim_args, log, stdout=subprocess.PIPE)
        ready_line = await asyncio.to_thread(_sim_ready, sim, log)
        sim_ready_s = time.monotonic() - started
        unit_url = ready_line.split("url=", 1)[1].split()[0]
        if unit_url.startswith("modbus+rtu"):
            unit_url = unit_url.replace("parity=E", "parity=N")  # a pty takes no parity
        config = folder / "cryoctl.toml"
        config.write_text(_config_text(folder, spec, unit_url, panel_port, pins))
        if spec.nozzle and spec.kind == "cj-air":
            await _until("the unit's control channel",
                         lambda: unit.post("/nozzle", json={"code": spec.nozzle}), timeout_s=10)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
        started = time.monotonic()
        control = _spawn(["run", "--config", str(config)], log, env=env)
        ready_s = await asyncio.to_thread(notify.wait_ready) - started
        if spec.panel:
            env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
            panel = _spawn(["panel", "--config", str(config)], log, env=env)

            async def linked() -> bool:
                link: str = (await api.get("/api/v1/status")).json().get("link", "")
                return link == "connected"

            await _until("the panel server", linked, timeout_s=START_TIMEOUT_S)
        device = Device(spec, folder, folder / "control.sock", sim, control, panel, api, unit,
                        unit_url, pins, ready_s, sim_ready_s)
        await device.sync_clock()
        yield device
    finally:
        await api.aclose()
        await unit.aclose()
        for proc in (panel, control, sim):
            await asyncio.to_thread(_stop, proc)
        notify.close()


async def wait_cooler(device: Device) -> None:
    """CJ-Air: wait until the unit says its cooler is at the set-point (a profile loaded)."""
    async def ready() -> bool:
        state = await device.unit_state()
        return bool(state["discretes"]["COOLER_READY"])

    await _until("the CJ-Air cooler", ready, timeout_s=COOLER_TIMEOUT_S)


@asynccontextmanager
async def bare_simulator(kind: str, folder: Path, *args: str) -> AsyncIterator[tuple[str, str]]:
    """A simulated unit alone (for a baseline): its wire URL and its control channel URL."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a scratch folder, instant
    log = folder / "baseline-sim.log"
    control = f"127.0.0.1:{free_port()}"
    wire = list(args) or ["--tcp", f"127.0.0.1:{free_port()}"]
    proc = _spawn(["sim", kind, *wire, "--control", control, "--log-level", "warning"],
                  log, stdout=subprocess.PIPE)
    try:
        line = await asyncio.to_thread(_sim_ready, proc, log)
        yield line.split("url=", 1)[1].split()[0], f"http://{control}"
    finally:
        await asyncio.to_thread(_stop, proc)
