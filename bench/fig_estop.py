"""Figures 1 and 2: how fast cold stops.

1. A software e-stop, ``POST /api/v1/estop`` to the panel server or ``estop`` on the
   control socket, sent during a real spray; measured from just before it is sent
   to the unit's own timestamp of the valve closing (its valve history, put on this
   machine's clock). Baseline: a bare round trip to another instance of the same
   simulator (pymodbus ``write_coil`` for CJ-Air, one ``STAT`` line for N2).
2. The unit's own e-stop button (the simulator's control channel) to the control
   process in ``estop`` with a high alarm: the unit's timestamp of the press to
   the ``at_s`` of the first snapshot the control process publishes in that state
   (the control process stamps snapshots with the same monotonic clock).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from bench.context import LONG_PROFILE, Context, spec
from bench.report import Row, percentiles, spread_ms
from bench.rig import Device, bare_simulator
from bench.session import Watch, back_to_idle, press_until_spraying, spray_ready
from cryoctl.client import ControlClient

__all__ = ["SPECS_1", "SPECS_2", "bare_round_trips", "estop_trials", "figure_1", "figure_2"]

SPECS_1 = (spec("n2"), spec("cj-air"))
SPECS_2 = SPECS_1
#: The control period of the daemon (``unit.period_ms`` default).
PERIOD_S: Final = 0.02
_TARGET_MS: Final = {"http": 3.0, "socket": 1.5}


def valve_close_after(history: list[dict[str, Any]], t_unit_s: float) -> float | None:
    """The unit's time of the first close at or after ``t_unit_s`` that ended an opening."""
    was_open = False
    for entry in history:
        if entry["open"]:
            was_open = True
            continue
        if was_open and entry["t_s"] >= t_unit_s:
            return float(entry["t_s"])
        was_open = False
    return None


async def spray(device: Device, client: ControlClient, watch: Watch, profile: str) -> int:
    """A session started and a spray under way; how many presses it took."""
    await spray_ready(device, client, watch, profile)
    return await press_until_spraying(device, watch)


async def estop_trials(device: Device, trials: int, sources: tuple[str, ...]
                       ) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Software e-stops during real sprays, alternating ``sources``; latencies in seconds."""
    latencies: dict[str, list[float]] = {s: [] for s in sources}
    counts: dict[str, Any] = {"repressed": 0, "no_close_seen": 0, "incidents": []}
    async with Watch(device) as watch, device.client() as client:
        for trial in range(trials * len(sources)):
            source = sources[trial % len(sources)]
            try:
                presses = await spray(device, client, watch, LONG_PROFILE)
            except RuntimeError as exc:  # the session paused or ended under it: noted, go on
                counts["incidents"].append(str(exc))
                if len(counts["incidents"]) > max(5, trials // 10):
                    raise RuntimeError(f"too many incidents: {counts['incidents'][:3]}") from None
                continue
            counts["repressed"] += presses > 1
            await asyncio.sleep(random.uniform(0.02, 0.06))  # any phase of the control period
            sent = time.monotonic()
            if source == "http":
                answer = await device.api.post("/api/v1/estop")
                answer.raise_for_status()
            else:
                await client.estop("bench")
            history = (await device.unit_state())["valve_history"]
            closed = valve_close_after(history, sent - device.offset_s)
            if closed is None:
                counts["no_close_seen"] += 1
            else:
                latencies[source].append(closed + device.offset_s - sent)
            await watch.until("estop", watch.phase("estop", "fault", "disconnected"))
        await back_to_idle(device, client, watch)
        counts["faults_reset"] = len(watch.faults)
        if watch.faults:
            counts["first_fault"] = watch.faults[0]
    return latencies, counts


async def _bare_tcp_modbus(url: str, trials: int) -> list[float]:
    from pymodbus.client import AsyncModbusTcpClient

    host, port = url.split("://", 1)[1].split("?", 1)[0].rsplit(":", 1)
    client = AsyncModbusTcpClient(host, port=int(port), timeout=2, retries=0)
    await client.connect()
    try:
        samples = []
        for _ in range(trials + 5):
            start = time.perf_counter()
            await client.write_coil(0, False, device_id=1)
            samples.append(time.perf_counter() - start)
        return samples[5:]
    finally:
        client.close()


async def _bare_line(url: str, trials: int) -> list[float]:
    from drivers.n2.codec import encode_command

    host, port = url.split("://", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.transport.get_extra_info("socket").setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    line = encode_command("STAT")
    try:
        samples = []
        for _ in range(trials + 5):
            start = time.perf_counter()
            writer.write(line)
            await reader.readline()
            samples.append(time.perf_counter() - start)
        return samples[5:]
    finally:
        writer.close()


async def bare_round_trips(ctx: Context, kind: str, trials: int) -> list[float]:
    """A bare round trip to another instance of the same simulator, over loopback TCP."""
    async with bare_simulator(kind, ctx.folder / f"bare-{kind}") as (url, _):
        await asyncio.sleep(0.2)
        if kind == "cj-air":
            return await _bare_tcp_modbus(url, trials)
        return await _bare_line(url, trials)


async def figure_1(ctx: Context) -> list[Row]:
    trials = ctx.trials(500, 5)
    rows = []
    for device_spec in SPECS_1:
        device = await ctx.device(device_spec)
        kind = device_spec.kind
        latencies, counts = await estop_trials(device, trials, ("http", "socket"))
        base = percentiles(await bare_round_trips(ctx, kind, max(trials, 200)))
        base_label = "bare write_coil p99" if kind == "cj-air" else "bare STAT line p99"
        for source in ("http", "socket"):
            p = percentiles(latencies[source])
            rows.append(Row(
                1, f"software e-stop -> valve closed, {kind}, from {source} (p99)",
                p["p99"] * 1000, "ms", base["p99"] * 1000, base_label,
                f"p99 <= {_TARGET_MS[source]:g} ms", p["p99"] * 1000 <= _TARGET_MS[source],
                {"latency_ms": _ms(p), "baseline_ms": _ms(base), **counts},
                spread_ms(p, trouble(counts))))
    return rows


async def button_trials(device: Device, trials: int) -> tuple[list[float], int]:
    """The unit's e-stop button pressed with the daemon idle; seconds to ``estop`` + high alarm."""
    samples = []
    missing_alarm = 0
    async with Watch(device) as watch, device.client() as client:
        await back_to_idle(device, client, watch)
        watch.keep = True
        for _ in range(trials):
            await asyncio.sleep(random.uniform(0.02, 0.06))
            watch.history.clear()
            answer = await device.unit.post("/estop", json={"pressed": True})
            answer.raise_for_status()
            pressed_s = answer.json()["t_s"] + device.offset_s
            await watch.until("estop", _estop_seen(pressed_s))
            seen = next((snap for _, snap in watch.history
                         if snap.get("phase") == "estop" and _high(snap)), None)
            if seen is None:
                missing_alarm += 1
            else:
                samples.append(seen["at_s"] - pressed_s)
            await back_to_idle(device, client, watch)
        watch.keep = False
    return samples, missing_alarm


def _estop_seen(pressed_s: float) -> Callable[[dict[str, Any]], bool]:
    """In ``estop`` with a high alarm; or in ``estop`` for 2 s without one (counted)."""
    def check(snap: dict[str, Any]) -> bool:
        in_estop = snap.get("phase") == "estop"
        return in_estop and (_high(snap) or time.monotonic() - pressed_s > 2)
    return check


def _high(snapshot: dict[str, Any]) -> bool:
    alarms = snapshot.get("alarms", {}).get("alarms", [])
    return any(a.get("priority") in (3, "high", "HIGH") for a in alarms)


async def figure_2(ctx: Context) -> list[Row]:
    trials = ctx.trials(200, 5)
    rows = []
    for device_spec in SPECS_2:
        device = await ctx.device(device_spec)
        samples, missing = await button_trials(device, trials)
        p = percentiles(samples)
        p99_ms = p["p99"] * 1000
        if device_spec.kind == "cj-air":
            target, met = "p99 <= 1.5 periods (by polling)", p99_ms <= 1.5 * PERIOD_S * 1000
        else:
            target, met = "p99 <= 5 ms (by its event)", p99_ms <= 5.0
        rows.append(Row(2, f"unit e-stop button -> daemon in estop + high alarm, "
                        f"{device_spec.kind} (p99)", p99_ms, "ms", PERIOD_S * 1000,
                        "control period", target, met and not missing,
                        {"latency_ms": _ms(p), "no_high_alarm": missing},
                        spread_ms(p, f"{missing} without a high alarm" if missing else "")))
    return rows


def trouble(counts: dict[str, Any]) -> str:
    """What went wrong in the trials, in a few words (empty when nothing did)."""
    said = []
    if counts.get("repressed"):
        said.append(f"{counts['repressed']} sprays needed a second press")
    if counts.get("no_close_seen"):
        said.append(f"{counts['no_close_seen']} closes not found")
    if counts.get("faults_reset"):
        said.append(f"{counts['faults_reset']} faults reset")
    if counts.get("incidents"):
        said.append(f"{len(counts['incidents'])} trials lost to incidents (see JSON)")
    return ", ".join(said)


def _ms(p: dict[str, float]) -> dict[str, float]:
    return {k: (v if k == "n" else round(v * 1000, 3)) for k, v in p.items()}
