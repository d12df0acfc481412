"""Figure 4: the control loop's period jitter and CPU, idle and under API load.

The period is seen where it matters, at the unit: the CJ-Air simulator logs the
time of every discrete-input read (the trigger/e-stop poll the loop makes each
tick, ``GET /polls``), and jitter is how far each interval between two polls is
from the 20 ms period. CPU is the control process's user + system time over the
window (``/proc/PID/stat``). Under load, a separate process holds 5 WebSockets on
``/api/v1/events`` and sends 50 ``GET /api/v1/status`` a second to the panel
server. Baseline: a bare pymodbus poll loop (``bench.poll_loop``) at the same
rate against another CJ-Air simulator, its intervals logged by that unit the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from typing import Any, Final

import httpx

from bench.context import Context, spec
from bench.report import Row, percentiles, spread_ms
from bench.rig import Device, bare_simulator, cpu_s

__all__ = ["SPECS_4", "figure_4", "jitter"]

SPECS_4 = (spec("cj-air"),)
PERIOD_S: Final = 0.02


def jitter(poll_times_s: list[float], period_s: float = PERIOD_S) -> list[float]:
    """|interval - period| for each pair of consecutive polls (seconds)."""
    return [abs(b - a - period_s) for a, b in itertools.pairwise(poll_times_s)]


async def _polls(unit_url: str, since_s: float, until_s: float) -> list[float]:
    async with httpx.AsyncClient(base_url=unit_url, timeout=10) as unit:
        times: list[float] = (await unit.get("/polls")).json()["t_s"]
    return [t for t in times if since_s <= t <= until_s]


async def _unit_now(unit_url: str) -> float:
    async with httpx.AsyncClient(base_url=unit_url, timeout=10) as unit:
        now: float = (await unit.get("/clock")).json()["t_s"]
    return now


async def _child(*args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *args,
                                                stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _window(device: Device, seconds: float, *, load: bool) -> dict[str, Any]:
    unit_url = str(device.unit.base_url).rstrip("/")
    pid = device.control.pid
    loader = None
    if load:
        loader = asyncio.create_task(_child("bench.api_load", str(device.api.base_url).rstrip("/"),
                                            str(seconds + 1.0)))
        await asyncio.sleep(1.0)  # the clients connected and the rate steady
    since = await _unit_now(unit_url)
    cpu, wall = cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = cpu_s(pid) - cpu, time.monotonic() - wall
    until = await _unit_now(unit_url)
    out: dict[str, Any] = {"polls": await _polls(unit_url, since, until),
                           "cpu_pct": 100 * cpu / wall}
    if loader is not None:
        out["load"] = await loader
    return out


async def _baseline(ctx: Context, seconds: float) -> dict[str, Any]:
    async with bare_simulator("cj-air", ctx.folder / "bare-poll") as (url, unit_url):
        since = await _unit_now(unit_url)
        result = await _child("bench.poll_loop", url, str(seconds))
        until = await _unit_now(unit_url)
        polls = await _polls(unit_url, since, until)
    return {"polls": polls, "cpu_pct": 100 * result["cpu_s"] / result["wall_s"]}


async def figure_4(ctx: Context) -> list[Row]:
    seconds = ctx.seconds(60.0, 3.0)
    device = await ctx.device(SPECS_4[0])
    async with device.client() as client:  # idle, as after start: no session, no profile
        await client.command("stop")
    base = await _baseline(ctx, seconds)
    idle = await _window(device, seconds, load=False)
    loaded = await _window(device, seconds, load=True)
    bj = percentiles(jitter(base["polls"]))
    rows = []
    for name, run, limit_ms in (("idle", idle, 1.0), ("under API load", loaded, 2.0)):
        j = percentiles(jitter(run["polls"]))
        detail = {"jitter_ms": _ms(j), "baseline_jitter_ms": _ms(bj), "seconds": seconds,
                  "polls": len(run["polls"]), "baseline_polls": len(base["polls"]),
                  "rate_hz": len(run["polls"]) / seconds}
        if "load" in run:
            detail["api_load"] = run["load"]
        rows.append(Row(4, f"control period jitter at the unit, {name} (p99)", j["p99"] * 1000,
                        "ms", bj["p99"] * 1000, "bare pymodbus poll loop p99",
                        f"p99 <= {limit_ms:g} ms", j["p99"] * 1000 <= limit_ms, detail,
                        spread_ms(j, f"{detail['rate_hz']:.1f} Hz polled")))
    for name, run in (("idle", idle), ("under API load", loaded)):
        pct = run["cpu_pct"]
        rows.append(Row(4, f"control process CPU, {name}", pct, "%", base["cpu_pct"],
                        "bare pymodbus poll loop", "<= 5 % of a core and <= 1.5 x baseline",
                        pct <= 5.0 and pct <= 1.5 * base["cpu_pct"], {"seconds": seconds}))
    return rows


def _ms(p: dict[str, float]) -> dict[str, float]:
    return {k: (v if k == "n" else round(v * 1000, 3)) for k, v in p.items()}
