"""cryoctl benchmarks: print the numbers the performance targets are judged by.

    python bench/run.py            # everything (about half a minute)
    python bench/run.py core wire  # some of it

core     a 15-minute lesion session through the real controller loop, in virtual
         time on the fake unit, at 50 Hz (the daemon's rate) and at 10 Hz: wall
         time, and microseconds per control cycle
profile  parsing and validating a shipped profile
wire     one status snapshot through each driver from a simulator in its own process:
         N2 over TCP, CJ-Air over Modbus TCP, and CJ-Air over RTU on a pty paced as a
         19200-baud line (--wire-baud)

Numbers, not verdicts: tests assert behaviour; this shows what the machine does.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from cryoctl.control.registry import open_unit
from cryoctl.control.virtual_rig import virtual_controller
from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.logging import configure as configure_logging
from cryoctl.profile import parse_profile, shipped_profiles

#: The daemon's loop rate, and the property suite's.
PERIODS_S = (0.02, 0.1)


def _row(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def _percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.2f} ms  p99 {p99:.2f} ms  max {ms[-1]:.2f} ms"


# -- core ----------------------------------------------------------------------------


async def _lesion_session(period_s: float) -> tuple[float, int, float]:
    """n2-common-wart: 10 sites x 2 passes held past the 10 s dwell, 30 s rests."""
    loaded = next(p for p in shipped_profiles() if p.name == "n2-common-wart")
    clock, unit, controller = virtual_controller(
        N2_CAPABILITIES, nozzle=loaded.profile.device.nozzle, period_s=period_s
    )
    treatment = controller.treatment

    async def until(at_s: float) -> None:
        while clock() < at_s:  # noqa: ASYNC110 - virtual time moves only when the loop runs
            await asyncio.sleep(0)

    wall = time.perf_counter()
    await controller.start()
    await controller.load_profile(loaded)
    await controller.act(treatment.start_session)
    loop = asyncio.create_task(controller.run())
    zone = loaded.profile.zones[0]
    for site in range(zone.repeat):
        if site:
            await controller.act(treatment.next_site)
        for _ in range(zone.passes):
            unit.press_trigger()
            await until(clock() + zone.max_dwell_s + 2)
            unit.release_trigger()
            await until(clock() + zone.rest_s)
    await controller.act(treatment.finish)
    controller.stop()
    await loop
    wall = time.perf_counter() - wall
    record = treatment.records[-1]
    if record.ledger.session.passes != zone.repeat * zone.passes:
        raise SystemExit(f"bench session went wrong: {record}")
    return record.treated_s, controller.cycles, wall


def bench_core() -> None:
    print("core (virtual time, fake unit, real controller loop)")
    for period_s in PERIODS_S:
        treated_s, cycles, wall_s = asyncio.run(_lesion_session(period_s))
        hz = f"{1 / period_s:.0f} Hz"
        _row(f"{treated_s:.0f} s session at {hz}", f"{wall_s * 1000:.0f} ms wall, {cycles} cycles")
        per_cycle_us = wall_s / cycles * 1e6
        _row(f"per control cycle at {hz}", f"{per_cycle_us:.1f} us of {period_s * 1e6:.0f} us")


# -- profile ---------------------------------------------------------------------------


def bench_profile() -> None:
    print("profile")
    data = (files("cryoctl.profiles") / "n2-face-cryomassage.toml").read_bytes()
    runs = 500
    start = time.perf_counter()
    for _ in range(runs):
        parse_profile(data, source="n2-face-cryomassage.toml")
    _row(
        "parse + validate n2-face-cryomassage",
        f"{(time.perf_counter() - start) / runs * 1e6:.0f} us",
    )


# -- wire ------------------------------------------------------------------------------


@contextmanager
def _simulator(*args: str) -> Iterator[str]:
    """A ``cryoctl sim`` process; yields the unit URL from its READY line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "sim", *args, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"simulator did not start: {line!r}")
        yield line.split("url=", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _status_reads(url: str, reads: int) -> list[float]:
    port = open_unit(url)
    try:
        await port.connect()
        await port.read_status()
        samples = []
        for _ in range(reads):
            start = time.perf_counter()
            await port.read_status()
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        await port.aclose()


def bench_wire() -> None:
    print("wire (driver <-> simulator in another process)")
    cases: list[tuple[str, Callable[[Path], tuple[str, ...]], int]] = [
        ("N2 STAT, n2+socket:// TCP", lambda _: ("n2", "--tcp", "127.0.0.1:0"), 500),
        ("CJ-Air status, modbus+tcp://", lambda _: ("cj-air", "--tcp", "127.0.0.1:0"), 500),
        (
            "CJ-Air status, RTU pty paced at 19200 baud",
            lambda tmp: ("cj-air", "--rtu", str(tmp / "cj"), "--wire-baud", "19200"),
            50,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, args, reads in cases:
            with _simulator(*args(Path(tmp))) as url:
                if url.startswith("modbus+rtu"):
                    url = url.replace("parity=E", "parity=N")  # a pty takes no parity
                _row(label, _percentiles(asyncio.run(_status_reads(url, reads))))


BENCHES = {"core": bench_core, "profile": bench_profile, "wire": bench_wire}


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in BENCHES]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    configure_logging(level="warning")
    for name in argv or list(BENCHES):
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
