"""Figure 7: CJ-Air over Modbus RTU at 19200 baud, 8E1, with the simulator's wire time.

The simulator (``--rtu PATH --wire-baud 19200``) holds every answer back by the
time the request and the answer would take on a real 19200-baud 8E1 line (11 bits a
character, a 3.5-character gap after each frame); a pty itself has no speed. It
acts on a request when the request has arrived, so a valve close is timestamped
at the unit once the write is in, even while the answer is still on the wire.

- the trigger/e-stop poll rate achieved during a spray (the bus is busy with the
  poll, heartbeats and the slower telemetry reads), from the unit's poll log;
- a software e-stop (control socket) during a spray, to the unit's timestamp of
  the close, as in figure 1.

Baseline: the theoretical frame times at that rate. A close may have to wait for
the exchange already on the bus (at worst a poll) and then needs its own write.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from bench.context import LONG_PROFILE, Context, spec
from bench.fig_estop import estop_trials, spray, trouble
from bench.report import Row, percentiles, spread_ms
from bench.rig import Device
from bench.session import Watch, back_to_idle

__all__ = ["SPECS_7", "exchange_s", "figure_7"]

BAUD: Final = 19200
SPECS_7 = (spec("cj-air", wire="pty", wire_baud=BAUD, panel=False),)
#: RTU frame lengths in bytes (address + PDU + CRC): request, answer.
READ_DISCRETES: Final = (8, 6)  # 7 inputs: one data byte
WRITE_COIL: Final = (8, 8)
LOOP_HZ: Final = 50.0


def exchange_s(frames: tuple[int, int], baud: int = BAUD) -> float:
    """Request + answer + two 3.5-character gaps, 11 bits a character (8E1)."""
    return (frames[0] + frames[1] + 7) * 11 / baud


async def poll_rate_hz(device: Device, seconds: float) -> float:
    """Discrete-input reads per second at the unit during a spray."""
    async with Watch(device) as watch, device.client() as client:
        for attempt in range(3):
            try:
                await spray(device, client, watch, LONG_PROFILE)
                break
            except RuntimeError:  # a lost link or a fault under it: once more
                if attempt == 2:
                    raise
        await asyncio.sleep(0.3)
        since = time.monotonic() - device.offset_s
        await asyncio.sleep(seconds)
        until = time.monotonic() - device.offset_s
        polls = [t for t in (await device.unit.get("/polls")).json()["t_s"] if since <= t <= until]
        await client.estop("bench")
        await watch.until("estop", watch.phase("estop"))
        await back_to_idle(device, client, watch)
    return len(polls) / (until - since)


async def figure_7(ctx: Context) -> list[Row]:
    device = await ctx.device(SPECS_7[0])
    poll_s, write_s = exchange_s(READ_DISCRETES), exchange_s(WRITE_COIL)
    rate = await poll_rate_hz(device, ctx.seconds(10.0, 1.0))
    latencies, counts = await estop_trials(device, ctx.trials(200, 3), ("socket",))
    p = percentiles(latencies["socket"])
    bound_ms = (poll_s + write_s) * 1000
    return [
        Row(7, "RTU 19200 8E1: trigger/e-stop poll rate during a spray", rate, "Hz",
            min(LOOP_HZ, 1 / poll_s), "loop rate (a poll frame allows "
            f"{1 / poll_s:.0f} Hz)", "-", None,
            {"poll_frame_ms": round(poll_s * 1000, 2)}),
        Row(7, "RTU 19200 8E1: software e-stop -> valve closed, bus busy (p99)",
            p["p99"] * 1000, "ms", bound_ms, "poll frame + write frame",
            f"p99 <= {bound_ms:.1f} ms", p["p99"] * 1000 <= bound_ms,
            {"latency_ms": {k: (v if k == "n" else round(v * 1000, 3)) for k, v in p.items()},
             "poll_frame_ms": round(poll_s * 1000, 2), "write_frame_ms": round(write_s * 1000, 2),
             **counts}, spread_ms(p, trouble(counts))),
    ]
