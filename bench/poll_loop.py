"""The baseline of figure 4: a bare pymodbus poll loop, one discrete-input read per tick.

    python -m bench.poll_loop modbus+tcp://127.0.0.1:PORT?device_id=1 SECONDS [PERIOD_S]

Sleeps to absolute deadlines, as the control loop does, and prints one JSON line
at the end: the CPU seconds it used over the polling (``time.process_time``) and
the wall seconds it took.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from pymodbus.client import AsyncModbusTcpClient


async def poll(url: str, seconds: float, period_s: float) -> dict[str, float]:
    host, port = url.split("://", 1)[1].split("?", 1)[0].rsplit(":", 1)
    client = AsyncModbusTcpClient(host, port=int(port), timeout=2, retries=0)
    await client.connect()
    loop = asyncio.get_running_loop()
    try:
        cpu, wall = time.process_time(), loop.time()
        tick = wall
        polls = 0
        while loop.time() - wall < seconds:
            await client.read_discrete_inputs(0, count=7, device_id=1)
            polls += 1
            tick += period_s
            await asyncio.sleep(max(0.0, tick - loop.time()))
        return {"cpu_s": time.process_time() - cpu, "wall_s": loop.time() - wall,
                "polls": polls}
    finally:
        client.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    period_s = float(argv[2]) if len(argv) == 3 else 0.02
    print(json.dumps(asyncio.run(poll(argv[0], float(argv[1]), period_s))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
