"""Power cuts: the control process SIGKILLed at random moments of sessions, round after round.

One simulator and one records database for all rounds; each round a fresh
``cryoctl run`` starts a session over its socket (``start_session``), sprays
through the simulator's control channel on a schedule drawn from the round's
seed, and is killed at a random moment: right after the start, mid-spray (in
the first zone or the next), resting after a spray, or after the session ended.
Just before each kill every committed row is read with a read-only connection.
After each restart:

- ``PRAGMA integrity_check`` answers ``ok`` and the audit chain verifies;
- no row read before the kill is lost (by table and key), the audit rows are
  unchanged, ended sessions unchanged, and no dose went down;
- every session open at the kill is ``interrupted``, and none is left open;
- the valve never opens after the restart, with the trigger held or pressed again.

Five rounds in every run; thirty behind the ``soak`` marker
(``python -m pytest -m soak tests/records/test_power_cuts.py``). The seeds are
printed and named in every failure; ``POWER_CUT_SEED=N`` replays one run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from procs import Children, cryoctl, wait_for
from records_rig import Device, Staff

from cryoctl.client import ControlClient

pytestmark = [pytest.mark.slow]

#: Each table's key: what "the same row" means across a kill.
KEYS = {
    "sessions": "id",
    "zone_doses": "session_id, zone_index",
    "sprays": "id",
    "alarm_log": "id",
    "events": "id",
    "audit": "id",
}

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def committed(db: Path) -> Rows:
    """Every committed row, by table and key, through a read-only connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        out: Rows = {}
        for table, key in KEYS.items():
            names = [k.strip() for k in key.split(",")]
            out[table] = {tuple(r[n] for n in names): dict(r)
                          for r in conn.execute(f"SELECT * FROM {table}")}
        return out
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def compare(before: Rows, after: Rows, what: str) -> list[str]:
    """What the kill lost or changed that it must not have (empty when nothing)."""
    wrong: list[str] = []
    for table, rows in before.items():
        missing = sorted(set(rows) - set(after[table]))
        if missing:
            wrong.append(f"{what}: {len(missing)} committed {table} rows lost: {missing[:5]}")
    for key, row in before["audit"].items():
        if key in after["audit"] and after["audit"][key] != row:
            wrong.append(f"{what}: audit row {key} changed")
    for key, row in before["sessions"].items():
        now = after["sessions"].get(key)
        if now is None:
            continue
        if row["outcome"] is not None and now != row:
            wrong.append(f"{what}: ended session {key} changed: {row} -> {now}")
        if row["outcome"] is None and now["outcome"] != "interrupted":
            wrong.append(f"{what}: session {key} open at the kill is {now['outcome']!r}")
        if now["spray_s"] < row["spray_s"] - 1e-9:
            wrong.append(f"{what}: session {key} dose went down")
    for key, row in before["zone_doses"].items():
        now = after["zone_doses"].get(key)
        if now is not None and now["spray_s"] < row["spray_s"] - 1e-9:
            wrong.append(f"{what}: zone dose {key} went down")
    left_open = [k for k, r in after["sessions"].items() if r["outcome"] is None]
    if left_open:
        wrong.append(f"{what}: sessions left open after the restart: {left_open}")
    return wrong


async def _session_then_kill(device: Device, rng: random.Random, patient: str,
                             what: str) -> tuple[Rows, str]:
    """Start a session, spray on a random schedule, read the rows, SIGKILL; the rows read."""
    moment = rng.choice(("after the start", "mid-spray", "resting", "next zone",
                         "after the end"))
    async with ControlClient(device.sock) as c:
        staff = Staff(device, c)
        reply = await staff.start(patient)
        assert reply.ok, f"{what}: {reply.reason}"
        if moment == "mid-spray":
            await staff.press()
        elif moment != "after the start":
            # One spray per zone: the profile's rest between passes is longer than a round.
            await staff.spray(rng.uniform(0.05, 0.4))
            if moment == "next zone":
                assert (await c.command("next_zone")).ok
                await staff.until(f"{what}: the next zone", "treating_armed")
                await staff.press()
            elif moment == "after the end":
                assert (await c.command("stop")).ok
                await staff.until(f"{what}: stopped", "completed")
    await asyncio.sleep(rng.uniform(0.0, 0.4))
    before = committed(device.db)
    device.daemon.send_signal(signal.SIGKILL)
    device.daemon.wait(5)
    return before, moment


async def _nothing_sprays(device: Device, what: str) -> str:
    """With the trigger held, and pressed again, the valve stays shut; the phase after."""
    mark = len(device.history())
    device.trigger(True)
    await asyncio.sleep(0.3)
    device.trigger(False)
    await asyncio.sleep(0.05)
    device.trigger(True)
    await asyncio.sleep(0.3)
    device.trigger(False)
    opened = [e for e in device.history()[mark:] if e["open"]]
    assert not opened, f"{what}: the valve opened after the restart: {opened}"
    async with ControlClient(device.sock) as c:
        return str((await c.status())["phase"])


def _power_cuts(tmp_path: Path, rounds: int, seed: int) -> None:
    print(f"power cuts: {rounds} rounds, seed {seed}")
    rng = random.Random(seed)
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, "n2")
        device.start_daemon()
        for n in range(rounds):
            round_seed = rng.randrange(2**32)
            what = f"round {n} (run seed {seed}, round seed {round_seed})"
            print(what)
            before, moment = asyncio.run(_session_then_kill(
                device, random.Random(round_seed), f"P-CUT-{n}", what))
            what += f", killed {moment}"
            # The unit's own expiry shuts the valve; the host is gone.
            wait_for(lambda: device.sim.state()["valve_open"] is False, 3,
                     f"{what}: the unit shuts")
            device.trigger(True)  # held across the restart
            device.start_daemon()
            assert integrity(device.db) == "ok", what
            after = committed(device.db)
            wrong = compare(before, after, what)
            assert not wrong, "\n".join(wrong)
            phase = asyncio.run(_nothing_sprays(device, what))
            assert phase in ("idle", "ready"), f"{what}: {phase}"
            patients = {r["patient_ref"] for r in after["sessions"].values()}
            assert f"P-CUT-{n}" in patients, f"{what}: the session's start was not recorded"
        verified = cryoctl("audit", "verify", "--db", str(device.db))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert device.daemon.poll() is None, children.log(f"run{device.runs}")


def _seed() -> int:
    return int(os.environ.get("POWER_CUT_SEED") or random.SystemRandom().randrange(2**32))


@pytest.mark.timeout(240)
def test_power_cuts_short(tmp_path: Path) -> None:
    _power_cuts(tmp_path, 5, _seed())


@pytest.mark.soak
@pytest.mark.timeout(1200)
def test_power_cuts_soak(tmp_path: Path) -> None:
    _power_cuts(tmp_path, 30, _seed())
