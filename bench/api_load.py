"""The API load of figure 4: WebSocket clients and a steady rate of status requests.

    python -m bench.api_load http://127.0.0.1:PORT SECONDS [CLIENTS] [RATE_PER_S]

Opens CLIENTS WebSockets on ``/api/v1/events`` (reading every frame) and sends
RATE_PER_S ``GET /api/v1/status`` on a fixed schedule, for SECONDS; then prints one
JSON line: requests sent and answered, their p50/p99 in ms, WebSocket frames read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

import httpx
import websockets


async def _reader(url: str, counts: list[int]) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        async for _ in ws:
            counts[0] += 1


async def load(base: str, seconds: float, clients: int, rate_per_s: float) -> dict[str, float]:
    frames = [0]
    ws_url = base.replace("http://", "ws://") + "/api/v1/events"
    readers = [asyncio.create_task(_reader(ws_url, frames)) for _ in range(clients)]
    times: list[float] = []
    failed = 0
    async with httpx.AsyncClient(base_url=base, timeout=5) as api:
        async def one() -> None:
            nonlocal failed
            start = time.perf_counter()
            try:
                (await api.get("/api/v1/status")).raise_for_status()
            except httpx.HTTPError:
                failed += 1
            else:
                times.append(time.perf_counter() - start)

        loop = asyncio.get_running_loop()
        began = loop.time()
        sent = 0
        pending: set[asyncio.Task[None]] = set()
        while loop.time() - began < seconds:
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, began + sent / rate_per_s - loop.time()))
        await asyncio.gather(*pending)
    for task in readers:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    times.sort()

    def pick(q: float) -> float:
        if not times:
            return float("nan")
        return round(times[min(len(times) - 1, int(q * len(times)))] * 1000, 2)

    return {"sent": sent, "answered": len(times), "failed": failed, "p50_ms": pick(0.5),
            "p99_ms": pick(0.99), "ws_frames": frames[0], "ws_clients": clients,
            "rate_per_s": sent / seconds}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3, 4):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    clients = int(argv[2]) if len(argv) > 2 else 5
    rate = float(argv[3]) if len(argv) > 3 else 50.0
    print(json.dumps(asyncio.run(load(argv[0], float(argv[1]), clients, rate))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
