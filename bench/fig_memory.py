"""Figure 6: memory of each process, and start -> READY.

RSS (``/proc/PID/statm``) of the control process and the panel server right after
start, after the first sessions (allocators and caches warmed) and after the
last; each session goes through the API as the panel would run it: sign in once,
``POST /api/v1/session``, ``POST /api/v1/session/stop``, back to ``ready``.
"No growth" is judged from the warm point to the end. Start -> READY is the
``READY=1`` datagram on ``$NOTIFY_SOCKET``: once for the control process started
alone against a running simulator, once for ``cryoctl run --simulate`` (which
starts the simulator and the panel server too).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from bench.context import LONG_PROFILE, Context, spec
from bench.report import Row
from bench.rig import Device, free_port, rss_mb
from bench.session import Watch

__all__ = ["figure_6", "simulate_ready_s"]

_CONTROL_MB: Final = 60.0
_PANEL_MB: Final = 90.0
#: What "no growth" allows between the warm point and the end (allocator noise).
_GROWTH_MB: Final = 1.0


async def api_sessions(device: Device, count: int, first: int) -> None:
    staff = await device.login("staff")
    body = {"profile": LONG_PROFILE, "cold_test_done": True,
            "checklist": {"Bench run: no patient": True}}
    async with Watch(device) as watch:
        for n in range(first, first + count):
            answer = await device.api.post("/api/v1/session", headers=staff,
                                           json={**body, "patient_ref": f"BENCH-{n:04d}"})
            if answer.status_code != 200:
                raise RuntimeError(f"session {n}: {answer.status_code} {answer.text}")
            await watch.until("armed", watch.phase("treating_armed"))
            answer = await device.api.post("/api/v1/session/stop", headers=staff)
            answer.raise_for_status()
            await watch.until("the end", watch.phase("completed", "ready", "idle"))
            if watch.latest.get("phase") == "completed":
                (await device.api.post("/api/v1/session/dismiss", headers=staff)).raise_for_status()
                await watch.until("ready", watch.phase("ready", "idle"))


def _rss(device: Device) -> tuple[float, float]:
    assert device.panel is not None
    return rss_mb(device.control.pid), rss_mb(device.panel.pid)


def simulate_ready_s(folder: Path) -> float:
    """``cryoctl run --simulate n2`` spawned -> its READY=1; then stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(os.fspath(path))
        sock.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": str(path)}
        started = time.monotonic()
        with (folder / "simulate.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cryoctl", "run", "--simulate", "n2", "--data-dir",
                 str(folder), "--panel-port", str(free_port()), "--control-port",
                 str(free_port())], stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        try:
            while b"READY=1" not in sock.recv(4096).split(b"\n"):
                pass
            return time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def figure_6(ctx: Context) -> list[Row]:
    total = ctx.trials(100, 5)
    warm = ctx.trials(10, 1)
    device_spec = spec("n2", tag="memory")
    device = await ctx.device(device_spec)
    await asyncio.sleep(1.0)
    start = _rss(device)
    await api_sessions(device, warm, 1)
    warmed = _rss(device)
    await api_sessions(device, total - warm, warm + 1)
    end = _rss(device)
    await ctx.stop(device_spec)
    simulate_s = await asyncio.to_thread(simulate_ready_s, ctx.folder / "simulate")
    rows = []
    for i, (name, limit) in enumerate((("control process", _CONTROL_MB),
                                       ("panel server", _PANEL_MB))):
        growth = end[i] - warmed[i]
        rows.append(Row(6, f"RSS of the {name} after {total} sessions", end[i], "MB", start[i],
                        "after start", f"<= {limit:g} MB, no growth (<= {_GROWTH_MB:g} MB "
                        f"from session {warm} on)", end[i] <= limit and growth <= _GROWTH_MB,
                        {"after_start_mb": round(start[i], 2),
                         f"after_{warm}_mb": round(warmed[i], 2),
                         f"after_{total}_mb": round(end[i], 2), "growth_mb": round(growth, 2)}))
    rows.append(Row(6, "control process start -> READY (simulator running)", device.ready_s,
                    "s", target="<= 2 s", met=device.ready_s <= 2.0))
    rows.append(Row(6, "cryoctl run --simulate start -> READY (simulator started too)",
                    simulate_s, "s", device.sim_ready_s, "simulator alone to its READY line",
                    "<= 2 s", simulate_s <= 2.0))
    return rows
