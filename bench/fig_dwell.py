"""Figure 3: dwell overshoot, the valve's open time at the unit minus ``max_dwell_s``.

The trigger is held through each spray, so the control process's own dwell
cut-off ends it. The unit's valve history gives each opening's length on the
unit's clock. One zone of 50 sites, one pass each: after a cut-off the trigger is
released and the next site begins (a new session after the last). Baseline: how
late asyncio wakes from a sleep to an absolute deadline, measured in the same run
(the loop that makes the close can be no more punctual than that).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Final

from bench.context import DWELL_S, SHORT_PROFILE, Context, spec
from bench.report import Row, percentiles, spread_ms
from bench.rig import Device
from bench.session import Watch, back_to_idle, press_until_spraying, spray_ready

__all__ = ["SPECS_3", "figure_3", "wake_lateness"]

SPECS_3 = (spec("n2"), spec("cj-air"), spec("n2", wire="pty", panel=False),
           spec("cj-air", wire="pty", panel=False))
_TARGET_MS: Final = 2.0
#: An opening shorter than the dwell by more than this ended for another reason.
_EARLY_S: Final = 0.05


async def wake_lateness(samples: int) -> list[float]:
    """asyncio's lateness waking at absolute deadlines 5..25 ms ahead (seconds)."""
    loop = asyncio.get_running_loop()
    late = []
    for _ in range(samples):
        deadline = loop.time() + random.uniform(0.005, 0.025)
        fut = loop.create_future()
        loop.call_at(deadline, fut.set_result, None)
        await fut
        late.append(loop.time() - deadline)
    return late


def openings(history: list[dict[str, Any]], since_s: float) -> list[float]:
    """Length of every complete opening that began at or after ``since_s`` (unit clock)."""
    lengths = []
    opened: float | None = None
    for entry in history:
        if entry["t_s"] < since_s:
            continue
        if entry["open"] and opened is None:
            opened = entry["t_s"]
        elif not entry["open"] and opened is not None:
            lengths.append(entry["t_s"] - opened)
            opened = None
    return lengths


async def sprays(device: Device, count: int) -> tuple[list[float], int, list[str]]:
    """``count`` sprays cut off by the dwell limit: overshoots (s), extra presses, incidents.

    A session the control process paused or ended on its own (a link blip on a busy
    machine) is an incident: it is noted, and the sprays go on in a new session.
    """
    overshoots: list[float] = []
    incidents: list[str] = []
    extra_presses = early = 0
    async with Watch(device) as watch, device.client() as client:
        done = 0
        while done < count:
            await spray_ready(device, client, watch, SHORT_PROFILE)
            since = time.monotonic() - device.offset_s
            sites = watch.latest["session"]["site_count"]
            for site in range(min(sites, count - done)):
                if site:
                    reply = await client.command("next_site")
                    if not reply.ok:
                        incidents.append(f"next_site refused: {reply.reason}; {watch.describe()}")
                        break
                    await watch.until("armed", watch.phase("treating_armed"))
                try:
                    extra_presses += await press_until_spraying(device, watch) - 1
                except RuntimeError as exc:  # the session was paused or ended under it
                    incidents.append(str(exc))
                    break
                await watch.until("the cut-off", lambda s: s.get("phase") != "treating_spraying",
                                  timeout_s=DWELL_S + 5)
                await device.unit_set("trigger", {"pressed": False})
                # the release must be seen (CJ-Air is polled) before the next press
                await watch.until("the release", lambda s: not (s.get("unit") or {}).get("trigger"))
                done += 1
            await back_to_idle(device, client, watch)
            history = (await device.unit_state())["valve_history"]
            lengths = openings(history, since)
            # an opening a lost link or an e-stop ended early was not a dwell cut-off
            overshoots += [n - DWELL_S for n in lengths if n >= DWELL_S - _EARLY_S]
            early += sum(n < DWELL_S - _EARLY_S for n in lengths)
            if len(incidents) > max(3, count // 10):
                raise RuntimeError(f"{device.spec.label}: too many incidents: {incidents}")
    if early:
        incidents.append(f"{early} openings ended before the dwell limit")
    return overshoots, extra_presses, incidents


async def figure_3(ctx: Context) -> list[Row]:
    count = ctx.trials(200, 5)
    base = percentiles(await wake_lateness(ctx.trials(1000, 50)))
    rows = []
    for device_spec in SPECS_3:
        device = await ctx.device(device_spec)
        overshoots, extra, incidents = await sprays(device, count)
        p = percentiles(overshoots)
        rows.append(Row(3, f"dwell overshoot at the unit, {device_spec.label} (p99)",
                        p["p99"] * 1000, "ms", base["p99"] * 1000, "asyncio wake-up lateness p99",
                        f"p99 <= {_TARGET_MS:g} ms", p["p99"] * 1000 <= _TARGET_MS,
                        {"overshoot_ms": _ms(p), "baseline_ms": _ms(base),
                         "min_ms": round(min(overshoots, default=float("nan")) * 1000, 3),
                         "sprays_asked": count, "extra_presses": extra, "incidents": incidents},
                        spread_ms(p, ", ".join(
                            ([f"{extra} extra presses"] if extra else [])
                            + ([f"{len(incidents)} incidents (see JSON)"] if incidents else []))
                        )))
    return rows


def _ms(p: dict[str, float]) -> dict[str, float]:
    return {k: (v if k == "n" else round(v * 1000, 3)) for k, v in p.items()}
