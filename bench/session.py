"""Sessions for the bench: its own short-dwell profiles, and a watch on the control process.

The shipped profiles spray for seconds and rest for half a minute, so hundreds of
sprays would take hours. The bench installs profiles of its own into the device's
profile folder: one zone of 50 sites, one pass each, a short ``max_dwell_s``, so
every spray is a real open -> close and a new site needs no rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any, Final

from bench.rig import Device
from cryoctl.client import ControlClient
from cryoctl.protocol import SnapshotMessage

__all__ = ["PROFILE_NOZZLE", "Watch", "install_profile", "spray_ready"]

#: The nozzle each bench profile names (the simulator is started with it fitted).
PROFILE_NOZZLE: Final = {"n2": "A", "cj-air": "F20"}
SITES: Final = 50
_trials = itertools.count(1)
_CHECK: Final = ('checklist = ["Bench run: no patient"]\nrequires_cold_test = false\n'
                 'min_interval_h = 1\nmax_course_sessions = 60\n')


def install_profile(device: Device, name: str, *, dwell_s: float) -> str:
    """Write a bench profile into the device's profile folder; its name."""
    kind = device.spec.kind
    if kind == "n2":
        head = ('device = "n2"\nkind = "lesion"\n\n[device]\nnozzle = "A"\n'
                "pressure_kpa = 60\n\n[session]\nmax_session_s = 1800\nmax_cryogen_g = 400\n")
    else:
        head = ('device = "cj-air"\nkind = "cold-air"\n\n[device]\nnozzle = "F20"\n'
                "airflow_level = 4\noutlet_temp_c = -20\nskin_reduce_c = 10\nskin_warn_c = 8\n"
                "skin_stop_c = 5\n\n[session]\nmax_session_s = 1200\n")
    text = (f'[profile]\nname = "{name}"\ntitle = "Bench"\nversion = 1\n'
            'description = "Short sprays for the benchmarks."\n'
            f'references = ["cryoctl docs/PERFORMANCE.md"]\n{head}{_CHECK}\n'
            f'[[zones]]\nname = "spot"\nmax_dwell_s = {dwell_s}\nmax_total_s = {dwell_s * 2}\n'
            f"passes = 1\nrest_s = 30\nrepeat = {SITES}\n")
    (device.folder / "profiles" / f"{name}.toml").write_text(text)
    return name


class Watch:
    """A subscription to the control process: each snapshot with the time it arrived here."""

    def __init__(self, device: Device) -> None:
        self.client: ControlClient = device.client()
        self.latest: dict[str, Any] = {}
        self.history: list[tuple[float, dict[str, Any]]] = []
        self.keep = False
        #: the alarms of each fault the bench had to reset
        self.faults: list[list[str]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        await self.client.connect()
        first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(first))
        await first
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self.client.aclose()

    async def _run(self, first: asyncio.Future[None]) -> None:
        async for push in self.client.subscribe():
            if isinstance(push, SnapshotMessage):
                self.latest = push.snapshot
                if self.keep:
                    self.history.append((time.monotonic(), push.snapshot))
                self._changed.set()
                if not first.done():
                    first.set_result(None)

    async def until(self, what: str, check: Callable[[dict[str, Any]], bool], *,
                    timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while not check(self.latest):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timed out waiting for {what}: {self.describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=left)
        return self.latest

    def describe(self) -> str:
        """The phase, refusals and alarms now, for an error message."""
        alarms = [f"{a.get('code')}: {a.get('detail')}"
                  for a in self.latest.get("alarms", {}).get("alarms", [])]
        return (f"phase {self.latest.get('phase')}, refusals {self.latest.get('refusals')}, "
                f"alarms {alarms}")

    def phase(self, *phases: str) -> Callable[[dict[str, Any]], bool]:
        return lambda snap: snap.get("phase") in phases


async def back_to_idle(device: Device, client: ControlClient, watch: Watch) -> None:
    """Out of an e-stop or a session, trigger released, to ``idle``/``ready``."""
    await device.unit_set("trigger", {"pressed": False})
    # a lost link comes back by itself (through selftest), or the bench gives up
    await watch.until("the link back", lambda s: s.get("phase") not in ("disconnected",
                                                                        "selftest", "starting"))
    phase = watch.latest.get("phase")
    if phase == "estop":
        await device.unit_set("estop", {"pressed": False})
        reply = await client.command("reset_estop")
        if not reply.ok:
            raise RuntimeError(f"reset_estop refused: {reply.reason}")
    elif phase == "fault":  # counted: a figure reports how often it had to
        watch.faults.append([a.get("detail") for a in watch.latest["alarms"]["alarms"]])
        reply = await client.command("reset_faults")
        if not reply.ok:
            raise RuntimeError(f"reset_faults refused: {reply.reason}")
    elif phase and (phase.startswith("treating") or phase == "paused"):
        await client.command("stop")
    await watch.until("idle", watch.phase("idle", "ready", "completed"))


async def spray_ready(device: Device, client: ControlClient, watch: Watch, name: str) -> None:
    """A session of profile ``name`` started and armed, the trigger released."""
    await back_to_idle(device, client, watch)
    if watch.latest.get("phase") == "completed":
        await client.command("dismiss")
    reply = await client.load_profile(name)
    if not reply.ok:
        raise RuntimeError(f"load_profile {name} refused: {reply.reason}")
    await watch.until("ready", watch.phase("ready"))
    # a patient of its own each trial: the bench profile's interval rule never refuses
    started = await client.start_session(patient_ref=f"BENCH-{next(_trials)}",
                                         checklist={"Bench run: no patient": True})
    if not started.ok:
        raise RuntimeError(f"start_session refused: {started.reason}")
    await watch.until("armed", watch.phase("treating_armed"))


async def press_until_spraying(device: Device, watch: Watch) -> int:
    """Press the trigger until a spray starts; how many presses it took.

    A press that comes within a few milliseconds of the session's start is not
    always taken (see docs/PERFORMANCE.md); it is released and pressed again, as a
    nurse would, and counted.
    """
    for press in range(1, 4):
        await device.unit_set("trigger", {"pressed": True})
        try:  # the press must be seen too before it is let go
            await watch.until("a spray", watch.phase("treating_spraying"),
                              timeout_s=0.5 if press < 3 else 10.0)
        except RuntimeError:
            await device.unit_set("trigger", {"pressed": False})
            await watch.until("the release", lambda s: not (s.get("unit") or {}).get("trigger"))
            continue
        return press
    raise RuntimeError(f"no spray after three presses: {watch.describe()}")

