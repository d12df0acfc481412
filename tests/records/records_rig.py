"""A real control process on a simulated unit, driven over its socket, for the records tests.

The simulator runs in its own process (``cryoctl sim``), the control process is
``cryoctl run --config`` (its database in the test's folder); staff act through
:class:`ControlClient` and the patient's side (trigger, faults) through the
simulator's HTTP control channel. The valve history the simulator recorded is
the reference for the dose.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from procs import Children, Simulator, socket_answers, wait_for, write_config

from cryoctl.client import ControlClient
from cryoctl.profile import shipped_profiles

PERIOD_S = 0.02
PROFILES = {"n2": "n2-face-cryomassage", "cj-air": "air-laser-adjunct"}
SIM_OPTIONS = {"n2": ("--nozzle", "M"), "cj-air": ()}
#: A unit fault bit each simulator can raise.
UNIT_FAULT = {"n2": "OVERPRESSURE", "cj-air": "WATCHDOG"}


def answers(profile: str) -> dict[str, bool]:
    limits = next(p for p in shipped_profiles() if p.name == profile).profile.session
    return dict.fromkeys(limits.checklist, True)


def open_intervals(history: list[dict[str, Any]], until_s: float | None = None) -> list[float]:
    """Seconds the valve was open, one entry per opening, from the simulator's history."""
    spans: list[float] = []
    opened: float | None = None
    for entry in history:
        if "open" not in entry:
            continue
        if entry["open"] and opened is None:
            opened = entry["t_s"]
        elif not entry["open"] and opened is not None:
            spans.append(entry["t_s"] - opened)
            opened = None
    if opened is not None and until_s is not None:
        spans.append(until_s - opened)
    return spans


class Device:
    """One simulated unit and one control process on it."""

    def __init__(self, children: Children, folder: Path, kind: str) -> None:
        self.children = children
        self.folder = folder
        self.kind = kind
        self.profile = PROFILES[kind]
        self.sim: Simulator = children.simulator(kind, *SIM_OPTIONS[kind])
        self.config = write_config(folder, kind, self.sim.url)
        self.sock = folder / "control.sock"
        self.db = folder / "cryoctl.db"
        self.daemon: Any = None
        self.runs = 0

    def start_daemon(self) -> None:
        self.runs += 1
        self.daemon = self.children.start(f"run{self.runs}", "run", "--config", str(self.config))
        wait_for(lambda: socket_answers(self.sock) or self.daemon.poll() is not None, 15,
                 "control socket")
        assert self.daemon.poll() is None, self.children.log(f"run{self.runs}")

    def history(self) -> list[dict[str, Any]]:
        return [e for e in self.sim.state()["valve_history"] if "open" in e]

    def trigger(self, pressed: bool) -> None:
        self.sim.post("trigger", {"pressed": pressed})

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


class Staff:
    """The staff's side, over the control socket."""

    def __init__(self, device: Device, client: ControlClient) -> None:
        self.device = device
        self.c = client

    async def phase(self) -> str:
        return str((await self.c.status())["phase"])

    async def until(self, what: str, *phases: str, timeout_s: float = 10) -> None:
        began = time.monotonic()
        while (now := await self.phase()) not in phases:
            if time.monotonic() - began > timeout_s:
                snap = await self.c.status()
                raise AssertionError(f"{what}: still {now}, not {phases}; refusals "
                                     f"{snap['refusals']}, alarms {snap['alarms']}")
            await asyncio.sleep(0.02)

    async def steady(self, *, for_s: float = 0.3, timeout_s: float = 10) -> None:
        """Until the link has been healthy for ``for_s`` (a reset's self-test is over)."""
        began = time.monotonic()
        since: float | None = None
        while True:
            snap = await self.c.status()
            now = time.monotonic()
            if snap["healthy"] and snap["phase"] != "disconnected":
                since = now if since is None else since
                if now - since >= for_s:
                    return
            else:
                since = None
            if now - began > timeout_s:
                raise AssertionError(f"not steady: {snap['phase']}, healthy {snap['healthy']}")
            await asyncio.sleep(0.02)

    async def ready(self) -> None:
        await self.steady()
        phase = await self.phase()
        if phase == "completed":
            assert (await self.c.command("dismiss")).ok
        await self.until("idle or ready", "idle", "ready")
        loaded = await self.c.load_profile(self.device.profile)
        assert loaded.ok, loaded.reason
        await self.until("ready", "ready")

    async def start(self, patient: str, **kw: Any) -> Any:
        await self.ready()
        reply = await self.c.start_session(
            patient_ref=patient, checklist=answers(self.device.profile), cold_test_done=True,
            **kw)
        if reply.ok:
            await self.until("armed", "treating_armed")
        return reply

    async def may_spray(self, timeout_s: float = 60) -> None:
        """Until nothing stands in a spray's way (a cold-air unit's cooler takes a while)."""
        began = time.monotonic()
        while True:
            refusals = [r for r in (await self.c.status())["refusals"] if "trigger" not in r]
            if not refusals:
                return
            if time.monotonic() - began > timeout_s:
                raise AssertionError(f"no spray allowed: {refusals}")
            await asyncio.sleep(0.05)

    async def press(self) -> None:
        await self.may_spray()
        self.device.trigger(True)
        await self.until("spraying", "treating_spraying")

    async def spray(self, seconds: float) -> None:
        """Press, hold ``seconds`` after the valve is seen open, release."""
        await self.may_spray()
        self.device.trigger(True)
        await self.until("spraying", "treating_spraying")
        await asyncio.sleep(seconds)
        self.device.trigger(False)
        await self.until("closed after the release", "treating_armed", "treating_resting")
