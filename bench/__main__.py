"""``python -m bench``: the performance figures of docs/PERFORMANCE.md, as one table.

    python -m bench                 # every figure, full trial counts (about twenty minutes)
    python -m bench --quick         # every figure, a few trials each (the CI smoke run)
    python -m bench 1 4 --json out.json

Each figure starts what it measures (a simulated unit, the control process, the
panel server) on loopback, measures its value beside a baseline taken in the same
run, and prints the ratio and the target. A missed target is a row marked MISS;
it does not change the exit status, which is 0 unless the bench itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bench import fig_core, fig_dwell, fig_estop, fig_fanout, fig_loop, fig_memory, fig_rtu
from bench.context import Context
from bench.report import Row, print_table, write_json
from bench.rig import DeviceSpec
from cryoctl.logging import configure as configure_logging

Figure = Callable[[Context], Awaitable[list[Row]]]

#: Each figure, what it is, and the devices it uses (kept running between figures).
FIGURES: Final[dict[int, tuple[str, Figure, Sequence[DeviceSpec]]]] = {
    1: ("software e-stop latency", fig_estop.figure_1, fig_estop.SPECS_1),
    2: ("unit e-stop button latency", fig_estop.figure_2, fig_estop.SPECS_2),
    3: ("dwell overshoot", fig_dwell.figure_3, fig_dwell.SPECS_3),
    4: ("control loop jitter and CPU", fig_loop.figure_4, fig_loop.SPECS_4),
    5: ("whole profile in virtual time", fig_core.figure_5, ()),
    6: ("memory and start-up", fig_memory.figure_6, ()),
    7: ("RTU at 19200 8E1", fig_rtu.figure_7, fig_rtu.SPECS_7),
    8: ("snapshot fan-out", fig_fanout.figure_8, fig_fanout.SPECS_8),
}


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                  if line.startswith("Model name")), platform.processor())
    return {"python": platform.python_version(), "cpu": model, "cpus": os.cpu_count(),
            "kernel": platform.release(), "load_avg": os.getloadavg(),
            "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("figures", nargs="*", type=int, metavar="N",
                        help=f"figures to run ({', '.join(map(str, FIGURES))}; default all)")
    parser.add_argument("--quick", action="store_true", help="a few trials of each (smoke run)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the table here")
    args = parser.parse_args(argv)
    unknown = [n for n in args.figures if n not in FIGURES]
    if unknown:
        parser.error(f"no figure {', '.join(map(str, unknown))}; "
                     f"choose from {', '.join(map(str, FIGURES))}")
    return args


async def run(numbers: list[int], *, quick: bool) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cryoctl-bench-") as tmp:
        ctx = Context(quick=quick, folder=Path(tmp))
        try:
            if quick:  # every CJ-Air cooler settles at the same time, not one after another
                await ctx.warm({s for n in numbers for s in FIGURES[n][2]})
            for i, number in enumerate(numbers):
                title, figure, _ = FIGURES[number]
                await ctx.keep_only(s for n in numbers[i:] for s in FIGURES[n][2])
                print(f"figure {number}: {title} ...", file=sys.stderr, flush=True)
                started = time.monotonic()
                try:
                    rows += await figure(ctx)
                except Exception as exc:  # a figure that cannot finish is a row that says why
                    print(f"figure {number}: failed: {exc}", file=sys.stderr, flush=True)
                    rows.append(Row(number, f"{title}: did not complete ({exc})", math.nan, "",
                                    met=False, detail={"error": str(exc)}))
                    await ctx.keep_only(())  # its devices may be in any state
                print(f"figure {number}: done in {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
        finally:
            await ctx.aclose()
    return rows


def main(argv: list[str]) -> int:
    args = parse(argv)
    configure_logging(level="warning")
    numbers = sorted(set(args.figures)) or list(FIGURES)
    rows = asyncio.run(run(numbers, quick=args.quick))
    print_table(rows)
    if args.json is not None:
        write_json(args.json, rows, {**machine(), "quick": args.quick, "figures": numbers})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
