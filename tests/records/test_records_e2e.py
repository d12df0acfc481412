"""Every session the daemon runs is recorded: each outcome on each simulated unit, end to end.

A real simulator process, a real ``cryoctl run`` and its socket; the valve history
the simulator recorded is the reference for the dose per zone (within one control
period per spray). Then a SIGKILL of the control process mid-spray: on restart the
session is ``interrupted``, the valve stays shut, and the dose up to the kill is kept.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from procs import Children, cryoctl, terminate, wait_for
from records_rig import PERIOD_S, UNIT_FAULT, Device, Staff, open_intervals

from cryoctl.client import ControlClient
from cryoctl.control.recording import DOSE_EVERY_S

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


#: A close the unit makes by itself (a fault) is seen at the next status read: one
#: period, plus that read's round trip.
READ_S = 0.005


def _close(a: float, b: float, sprays: int) -> bool:
    """Within one control period per spray (measured: under 7 ms apart on a quiet machine)."""
    return abs(a - b) <= (PERIOD_S + READ_S) * max(1, sprays)


async def _each_outcome(device: Device) -> dict[str, list[float]]:
    """One session per outcome; the simulator's open spans of each, per zone."""
    spans: dict[str, list[float]] = {}
    async with ControlClient(device.sock) as c:
        staff = Staff(device, c)

        def mark() -> int:
            return len(device.history())

        def since(n: int) -> list[float]:
            # The unit books its close when it acts on it: wait for it to be shut.
            wait_for(lambda: device.sim.state()["valve_open"] is False, 3, "the unit shut")
            return open_intervals(device.history()[n:])

        # A bare start_session command names no patient: refused, nothing starts.
        await staff.ready()
        bare = await c.command("start_session")
        assert not bare.ok and "names the patient" in bare.reason
        assert await staff.phase() == "ready"
        # completed: a spray in each of the first two zones, then every zone visited.
        assert (await staff.start("P-DONE")).ok
        n = mark()
        await staff.spray(0.4)
        spans["completed/0"] = since(n)
        assert (await c.command("next_zone")).ok
        n = mark()
        await staff.spray(0.3)
        spans["completed/1"] = since(n)
        while (await c.command("next_zone")).ok:
            pass
        assert (await c.command("stop")).ok
        await staff.until("completed", "completed")

        # The same patient again within the interval: refused, overridable; staff may
        # not override here; a technician with a reason may.
        again = await staff.start("P-DONE")
        assert not again.ok and again.overridable
        assert "the next session is allowed from" in again.reason
        again = await staff.start("P-DONE", override_reason="dermatologist asked for it")
        assert not again.ok and "only a technician may override" in again.reason
        again = await staff.start("P-DONE", role="technician", token_id="tech-1",
                                  override_reason="dermatologist asked for it")
        assert again.ok, again.reason
        assert (await c.command("stop")).ok
        await staff.until("stopped", "completed")

        # stopped before the last zone
        assert (await staff.start("P-STOP")).ok
        n = mark()
        await staff.spray(0.3)
        spans["stopped/0"] = since(n)
        assert (await c.command("stop")).ok
        await staff.until("stopped", "completed")

        # e-stop mid-spray, then the technician's reset
        assert (await staff.start("P-ESTOP")).ok
        n = mark()
        await staff.press()
        await asyncio.sleep(0.3)
        assert await c.estop("records test")
        device.trigger(False)
        spans["estop/0"] = since(n)
        assert (await c.command("reset_estop")).ok
        await staff.until("idle after the reset", "idle", "ready")

        # a unit fault mid-spray, then the fault reset
        assert (await staff.start("P-FAULT")).ok
        n = mark()
        await staff.press()
        await asyncio.sleep(0.3)
        device.sim.post("fault", {"name": UNIT_FAULT[device.kind], "active": True})
        await staff.until("fault", "fault")
        device.trigger(False)
        spans["fault/0"] = since(n)
        device.sim.post("fault", {"name": UNIT_FAULT[device.kind], "active": False})
        await asyncio.sleep(0.1)
        reset = await c.command("reset_faults")
        assert reset.ok, reset.reason
        await staff.until("idle after the fault reset", "idle", "ready")
    return spans


def _check_outcomes(device: Device, spans: dict[str, list[float]]) -> None:
    sessions = {r["patient_ref"] + ("+" if r["override_reason"] else ""): r for r in device.rows(
        "SELECT * FROM sessions ORDER BY started_utc")}
    assert set(sessions) == {"P-DONE", "P-DONE+", "P-STOP", "P-ESTOP", "P-FAULT"}
    outcome = {k: (r["outcome"], r["reason"]) for k, r in sessions.items()}
    assert outcome["P-DONE"] == ("completed", "staff")
    assert outcome["P-DONE+"] == ("stopped", "staff")
    assert outcome["P-STOP"] == ("stopped", "staff")
    assert outcome["P-ESTOP"] == ("estop", "records test")
    assert outcome["P-FAULT"][0] == "fault"
    for key, row in sessions.items():
        assert row["device_kind"] == device.kind and row["profile_name"] == device.profile
        assert len(row["profile_sha256"]) == 64 and row["unit_serial"]
        assert row["ended_utc"] >= row["started_utc"]
        assert row["started_by_role"] == ("technician" if key == "P-DONE+" else "staff")
    override = sessions["P-DONE+"]
    assert override["override_role"] == "technician"
    assert override["override_reason"] == "dermatologist asked for it"
    assert override["started_by_token"] == "tech-1"

    def zone(patient: str, index: int) -> tuple[float, int]:
        row = device.rows("SELECT spray_s, sprays FROM zone_doses WHERE session_id = ? AND "
                          "zone_index = ?", sessions[patient]["id"], index)[0]
        return float(row["spray_s"]), int(row["sprays"])

    for key, patient, index in (("completed/0", "P-DONE", 0), ("completed/1", "P-DONE", 1),
                                ("stopped/0", "P-STOP", 0), ("estop/0", "P-ESTOP", 0),
                                ("fault/0", "P-FAULT", 0)):
        recorded, sprays = zone(patient, index)
        at_unit = sum(spans[key])
        assert sprays == len(spans[key]), (key, sprays, spans[key])
        assert _close(recorded, at_unit, sprays), (key, recorded, at_unit)
    done = sessions["P-DONE"]
    total = sum(spans["completed/0"]) + sum(spans["completed/1"])
    assert _close(float(done["spray_s"]), total, 2)
    sprays = device.rows("SELECT zone_index, ended_by FROM sprays WHERE session_id = ? "
                         "ORDER BY id", done["id"])
    assert [(s["zone_index"], s["ended_by"]) for s in sprays] == [(0, "release"), (1, "release")]
    def alarms(patient: str) -> set[tuple[str, str, str]]:
        return {(a["code"], a["priority"], a["event"]) for a in device.rows(
            "SELECT code, priority, event FROM alarm_log WHERE session_id = ?",
            sessions[patient]["id"])}

    def ended_by(patient: str) -> str:
        [spray] = device.rows("SELECT ended_by FROM sprays WHERE session_id = ?",
                              sessions[patient]["id"])
        why = str(spray["ended_by"])
        if why.startswith("unit data"):
            # On a loaded machine the supervisor may cut the spray for stale data first;
            # then that is what the record says, with its alarm.
            assert ("stale_data", "medium", "raised") in alarms(patient), why
        return why

    assert ended_by("P-ESTOP") in ("e-stop (records test)",) or ended_by(
        "P-ESTOP").startswith("unit data")
    # The unit latched its fault and closed; the record names what the host saw first:
    # the fault in a status, stale data on a loaded machine, or the unit's interlock
    # refusing the lease's next OPEN (sent before a status showed the fault).
    why = ended_by("P-FAULT")
    refused = why.startswith("supervisor: unit refused to open") and "interlock" in why
    assert why.startswith(("fault:", "unit data")) or refused, why

    assert ("estop", "high", "raised") in alarms("P-ESTOP")
    assert ("unit_fault", "high", "raised") in alarms("P-FAULT")
    changes = [json.loads(r["data_json"]) for r in device.rows(
        "SELECT data_json FROM events WHERE name = 'state_changed' AND session_id = ?",
        sessions["P-STOP"]["id"])]
    assert {"before": "treating_armed", "after": "treating_spraying"} in changes
    actions = [r["action"] for r in device.rows("SELECT action FROM audit ORDER BY id")]
    for action in ("session_started", "session_ended", "override", "estop", "estop_reset",
                   "fault_reset"):
        assert action in actions, action
    assert cryoctl("audit", "verify", "--db", str(device.db)).returncode == 0


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
def test_a_session_of_each_outcome_is_recorded_with_its_dose(tmp_path: Path, kind: str) -> None:
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, kind)
        device.start_daemon()
        spans = asyncio.run(_each_outcome(device))
        code, _ = terminate(device.daemon)
        assert code == 0, children.log("run1")
        _check_outcomes(device, spans)


async def _spray_until_killed(device: Device) -> None:
    async with ControlClient(device.sock) as c:
        staff = Staff(device, c)
        assert (await staff.start("P-KILL")).ok
        await staff.press()
    await asyncio.sleep(0.8)
    device.daemon.send_signal(signal.SIGKILL)
    device.daemon.wait(5)


@pytest.mark.parametrize("kind", ["n2", "cj-air"])
def test_a_killed_control_process_leaves_an_interrupted_session_with_its_dose(
        tmp_path: Path, kind: str) -> None:
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, kind)
        device.start_daemon()
        asyncio.run(_spray_until_killed(device))
        # The unit's own expiry closes the valve (lease / heartbeat), not the host.
        wait_for(lambda: device.sim.state()["valve_open"] is False, 3, "the unit closes")
        at_unit = sum(open_intervals(device.history()))
        row = device.rows("SELECT * FROM sessions")[0]
        assert row["outcome"] is None  # nobody could close it
        device.trigger(False)
        device.start_daemon()
        row = device.rows("SELECT * FROM sessions")[0]
        assert row["outcome"] == "interrupted" and "start-up" in row["reason"]
        assert row["ended_utc"] is not None
        kept = float(row["spray_s"])
        # Kept up to the last dose update before the kill; the unit ran on to its expiry.
        assert 0.8 - DOSE_EVERY_S - PERIOD_S <= kept <= at_unit + PERIOD_S, (kept, at_unit)
        spray = device.rows("SELECT end_s, ended_by FROM sprays")[0]
        assert spray["ended_by"] == "interrupted" and spray["end_s"] is not None
        # Nothing sprays after the restart, even with the trigger pressed again.
        device.trigger(True)
        time.sleep(0.5)
        assert device.sim.state()["valve_open"] is False
        status = asyncio.run(_phase(device))
        assert status in ("idle", "ready")
        device.trigger(False)
        assert terminate(device.daemon)[0] == 0
        audit = [r["action"] for r in device.rows("SELECT action FROM audit")]
        assert audit.count("session_ended") == 1


async def _phase(device: Device) -> str:
    async with ControlClient(device.sock) as c:
        return str((await c.status())["phase"])


async def _write_refused(device: Device) -> None:
    async with ControlClient(device.sock) as c:
        staff = Staff(device, c)
        assert (await staff.start("P-DISK")).ok
        # The database starts refusing one kind of row, as a full or failing disk would.
        conn = sqlite3.connect(device.db)
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON sprays "
                     "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END")
        conn.commit()
        conn.close()
        await staff.spray(0.3)
        began = time.monotonic()
        while not any(a["code"] == "records_write_failed"
                      for a in (await c.status())["alarms"]["alarms"]):
            assert time.monotonic() - began < 5, "no records_write_failed alarm"
            await asyncio.sleep(0.05)
        # The running session still closes, and is written.
        assert (await c.command("stop")).ok
        await staff.until("stopped", "completed")
        refused = await staff.start("P-DISK-2")
        assert not refused.ok and not refused.overridable
        assert "records cannot be written" in refused.reason
        assert "disk I/O error (test)" in refused.reason
        assert await staff.phase() == "ready"
        device.trigger(True)
        await asyncio.sleep(0.3)
        assert device.sim.state()["valve_open"] is False
        device.trigger(False)


def test_a_failed_write_raises_an_alarm_and_refuses_new_sessions_but_closes(
        tmp_path: Path) -> None:
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, "n2")
        device.start_daemon()
        asyncio.run(_write_refused(device))
        assert terminate(device.daemon)[0] == 0
        rows = device.rows("SELECT patient_ref, outcome FROM sessions")
        assert [tuple(r) for r in rows] == [("P-DISK", "stopped")]
        alarms = device.rows("SELECT code, priority FROM alarm_log WHERE event = 'raised'")
        assert ("records_write_failed", "medium") in [tuple(a) for a in alarms]
