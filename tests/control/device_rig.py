"""The device as systemd runs it, in three processes: the unit, the control process, the panel.

``cryoctl sim`` (its control channel for the trigger and faults), ``cryoctl run
--config`` and ``cryoctl panel --config`` on one config in the test's folder, each
a child of :class:`procs.Children` (none outlives the test). The test reaches the
control process over its socket (:class:`ControlClient`, one short connection per
call), the panel over HTTP on a free loopback port, and reads the control
process's JSON log from its file.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from procs import Children, Simulator, socket_answers, wait_for, write_config
from session_start import confirmed_start

from cryoctl.client import ControlClient
from cryoctl.protocol import ControlStats, HistogramData

T = TypeVar("T")

PROFILES = {"n2": ("n2-face-cryomassage", "M"), "cj-air": ("air-face-tone", "F20")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def on_socket(path: Path, call: Callable[[ControlClient], Awaitable[T]], *,
              timeout_s: float = 5.0) -> T:
    """One request (or a few) on a fresh connection to the control socket."""
    async def run() -> T:
        async with ControlClient(path, timeout_s=timeout_s) as client:
            return await call(client)

    return asyncio.run(run())


def http_get(url: str, *, timeout_s: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class SplitDevice:
    children: Children
    folder: Path
    kind: str
    sim: Simulator
    config: Path
    panel_port: int
    control: subprocess.Popen[str] | None = None
    panel: subprocess.Popen[str] | None = None
    starts: dict[str, int] = field(default_factory=dict)

    @property
    def socket_path(self) -> Path:
        return self.folder / "control.sock"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.panel_port}"

    def _log_name(self, what: str) -> str:
        n = self.starts.get(what, 0) + 1
        self.starts[what] = n
        return f"{what}-{n}"

    def start_control(self) -> subprocess.Popen[str]:
        name = self._log_name("control")
        self.control = self.children.start(name, "run", "--config", str(self.config))
        control = self.control
        wait_for(lambda: socket_answers(self.socket_path) or control.poll() is not None, 30,
                 "the control socket")
        assert control.poll() is None, self.children.log(name)
        return control

    def start_panel(self) -> subprocess.Popen[str]:
        name = self._log_name("panel")
        self.panel = self.children.start(name, "panel", "--config", str(self.config))
        panel = self.panel
        wait_for(lambda: self.panel_linked() or panel.poll() is not None, 30,
                 "the panel server, linked to the control process")
        assert panel.poll() is None, self.children.log(name)
        return panel

    def panel_linked(self) -> bool:
        try:
            code, body = http_get(f"{self.base_url}/api/v1/status", timeout_s=2)
        except OSError:
            return False
        return code == 200 and json.loads(body).get("link") == "connected"

    def control_log(self, n: int | None = None) -> list[dict[str, Any]]:
        """The JSON lines of the control process's log (the ``n``-th start; the last)."""
        text = self.children.log(f"control-{n or self.starts['control']}")
        events = []
        for line in text.splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def status(self) -> dict[str, Any]:
        return on_socket(self.socket_path, lambda c: c.status())

    def stats(self) -> ControlStats:
        return on_socket(self.socket_path, lambda c: c.stats())

    def on_command(self, name: str) -> None:
        reply = on_socket(self.socket_path, lambda c: c.command(name))
        assert reply.ok, f"{name}: {reply.reason}"

    def start_session(self) -> None:
        profile, _ = PROFILES[self.kind]

        async def go(c: ControlClient) -> None:
            loaded = await c.load_profile(profile)
            assert loaded.ok, loaded.reason
            started = await confirmed_start(c, profile)
            assert started.ok, started.reason

        on_socket(self.socket_path, go)
        wait_for(lambda: self.status()["phase"] == "treating_armed", 10, "armed")

    def spraying(self) -> bool:
        return bool(self.status()["phase"] == "treating_spraying")


def split_device(children: Children, folder: Path, kind: str, *sim_options: str) -> SplitDevice:
    """The unit running, the config written; the control process and panel not yet started."""
    sim = children.simulator(kind, *sim_options)
    panel_port = free_port()
    config = write_config(folder, kind, sim.url, extra=f"\n[api]\nport = {panel_port}\n")
    _, nozzle = PROFILES[kind]
    sim.post("nozzle", {"code": nozzle})
    return SplitDevice(children, folder, kind, sim, config, panel_port)


# -- the loop's numbers ----------------------------------------------------------------

def delta(after: HistogramData, before: HistogramData) -> HistogramData:
    """What a histogram counted between two reports."""
    counts = [a - b for a, b in zip(after.counts, before.counts, strict=True)]
    return HistogramData(bounds_s=after.bounds_s, counts=counts,
                         sum_s=after.sum_s - before.sum_s, max_s=after.max_s)


def quantile_s(data: HistogramData, q: float) -> float:
    """The upper bound of the bucket holding the ``q`` quantile (inf above the last)."""
    total = sum(data.counts)
    assert total > 0, "no observations"
    seen = 0
    for i, count in enumerate(data.counts):
        seen += count
        if seen >= q * total:
            return data.bounds_s[i] if i < len(data.bounds_s) else float("inf")
    return float("inf")


def mean_s(data: HistogramData) -> float:
    return data.sum_s / max(1, sum(data.counts))


def timed_estop(path: Path) -> float:
    """Seconds from sending an e-stop on the socket to its answer (the close went out)."""
    async def go(c: ControlClient) -> float:
        began = time.monotonic()
        await c.estop("test")
        return time.monotonic() - began

    return on_socket(path, go)
