"""Figure 8: snapshot fan-out, from a change in the control process to a WebSocket client.

A client holds ``/api/v1/events`` open on the panel server while the unit's
trigger is pressed and released at the simulator (the loop reads it every tick,
so each change makes a snapshot). Each snapshot carries ``at_s``, the control
process's monotonic time when it was taken; the client notes the same clock when
the frame arrives. The first frame (the greeting, an older snapshot) is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Final

import websockets

from bench.context import Context, spec
from bench.report import Row, percentiles, spread_ms

__all__ = ["SPECS_8", "figure_8"]

SPECS_8 = (spec("cj-air"),)
_TARGET_MS: Final = 50.0


async def figure_8(ctx: Context) -> list[Row]:
    changes = ctx.trials(300, 10)
    device = await ctx.device(SPECS_8[0])
    samples: list[float] = []
    url = str(device.api.base_url).rstrip("/").replace("http://", "ws://") + "/api/v1/events"
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # the greeting

        async def read() -> None:
            async for frame in ws:
                arrived = time.monotonic()
                message = json.loads(frame)
                if message.get("type") == "snapshot":
                    samples.append(arrived - message["snapshot"]["at_s"])

        reader = asyncio.create_task(read())
        try:
            for n in range(changes):
                await device.unit_set("trigger", {"pressed": n % 2 == 0})
                await asyncio.sleep(0.06)
            await device.unit_set("trigger", {"pressed": False})
            await asyncio.sleep(0.2)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    p = percentiles(samples)
    return [Row(8, "snapshot change -> WebSocket client (p99)", p["p99"] * 1000, "ms",
                target=f"p99 <= {_TARGET_MS:g} ms", met=p["p99"] * 1000 <= _TARGET_MS,
                detail={"latency_ms": {k: (v if k == "n" else round(v * 1000, 3))
                                       for k, v in p.items()}, "changes_made": changes},
                note=spread_ms(p))]
