"""The clinic's desk and the recorder around the real controller, in virtual time.

The controller runs on the core tests' fake unit with a virtual clock; the wall
clock the records use is injected too, so days pass between two sessions without
any sleeping. The database is a real file, written by the real writer thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from core_rig import OPEN_RIGS, Rig, make_rig, shipped

from cryoctl.config import Config
from cryoctl.control.records_kit import RecordsKit, open_records
from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.protocol import StartSessionRequest

FACE = shipped("n2-face-cryomassage")  # 3 s dwell, 48 h apart, 15 a course
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Wall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Rig, RecordsKit, Wall]]:
    rig = make_rig(N2_CAPABILITIES, nozzle="M")
    wall = Wall()
    config = Config.model_validate({"unit": {"kind": "n2", "url": "n2+serial:///dev/x"},
                                    "data": {"dir": str(tmp_path)}})
    kit = open_records(config, rig.controller, wall=wall)
    kit.writer.start()
    rig.boot(FACE)
    yield rig, kit, wall
    rig.close()
    kit.stop(rig.controller)
    for open_rig in list(OPEN_RIGS):
        open_rig.close()


def _start(rig: Rig, kit: RecordsKit, patient: str, *, role: str = "staff",
           reason: str | None = None) -> tuple[bool, str, bool]:
    request = StartSessionRequest.model_validate({
        "id": 1, "type": "start_session", "patient_ref": patient, "role": role,
        "checklist": dict.fromkeys(FACE.profile.session.checklist, True),
        "cold_test_done": True, "override": None if reason is None else {"reason": reason}})
    reply = rig.loop.run_until_complete(kit.clinic.start(request))
    rig.settle()
    return reply.ok, reply.reason, reply.overridable


def _rows(kit: RecordsKit, sql: str) -> list[sqlite3.Row]:
    assert kit.writer.flush()
    conn = sqlite3.connect(f"file:{kit.path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_dwell_cutoff_and_a_pause_are_recorded_to_the_virtual_millisecond(
        desk: tuple[Rig, RecordsKit, Wall]) -> None:
    rig, kit, _ = desk
    assert _start(rig, kit, "P-1")[0]
    rig.run(0.013)
    rig.unit.press_trigger()
    rig.run(10)  # held past the 3 s dwell: cut off at its deadline
    rig.unit.release_trigger()
    rig.run(31)  # the rest
    rig.unit.press_trigger()
    rig.run(1.0)
    rig.act("pause")
    rig.unit.release_trigger()
    rig.act("resume")
    rig.act("finish")
    rig.run(0.1)
    [(a_open, a_close), (b_open, b_close)] = rig.unit.open_intervals()
    sprays = _rows(kit, "SELECT start_s, end_s, ended_by FROM sprays ORDER BY id")
    assert [s["ended_by"] for s in sprays] == ["dwell limit reached", "pause"]
    assert sprays[0]["end_s"] - sprays[0]["start_s"] == pytest.approx(3.0, abs=1e-6)
    assert sprays[1]["end_s"] - sprays[1]["start_s"] == pytest.approx(b_close - b_open,
                                                                      abs=0.02)
    zone = _rows(kit, "SELECT spray_s, passes, sprays, ln2_g FROM zone_doses "
                      "WHERE zone_index = 0")[0]
    unit_s = (a_close - a_open) + (b_close - b_open)
    assert zone["spray_s"] == pytest.approx(unit_s, abs=0.02)
    assert (zone["passes"], zone["sprays"]) == (2, 2) and zone["ln2_g"] > 0
    session = _rows(kit, "SELECT outcome, reason, started_utc, ended_utc FROM sessions")[0]
    assert (session["outcome"], session["reason"]) == ("stopped", "staff")
    assert session["started_utc"] == "2026-03-02T09:00:00.000Z"  # the injected wall clock
    codes = {r["code"] for r in _rows(kit, "SELECT code FROM alarm_log WHERE event = 'raised'")}
    assert "dwell_cutoff" in codes


def _treat(rig: Rig, kit: RecordsKit, patient: str, **kw: object) -> tuple[bool, str, bool]:
    started = _start(rig, kit, patient, **kw)  # type: ignore[arg-type]
    if started[0]:
        rig.unit.press_trigger()
        rig.run(0.5)
        rig.unit.release_trigger()
        rig.run(0.1)
        rig.act("finish")
        rig.act("dismiss")
        rig.run(0.1)
    return started


def test_the_interval_and_its_override_with_the_wall_clock_injected(
        desk: tuple[Rig, RecordsKit, Wall]) -> None:
    rig, kit, wall = desk
    assert _treat(rig, kit, "P-2")[0]
    wall.now = T0 + timedelta(hours=47)
    ok, reason, overridable = _treat(rig, kit, "P-2")
    assert not ok and overridable
    assert "the next session is allowed from 2026-03-04 09:00 UTC" in reason
    assert _treat(rig, kit, "P-3")[0]  # another patient is not held up
    ok, reason, _ = _treat(rig, kit, "P-2", reason="physician's order")
    assert not ok and "only a technician may override" in reason
    ok, reason, _ = _treat(rig, kit, "P-2", role="technician", reason="ok")
    assert not ok and "needs its reason in words" in reason
    assert _treat(rig, kit, "P-2", role="technician", reason="physician's order")[0]
    wall.now = T0 + timedelta(hours=47 + 48)
    assert _treat(rig, kit, "P-2")[0]  # 48 h after the overridden one
    rows = _rows(kit, "SELECT patient_ref, started_by_role, override_reason, override_role "
                      "FROM sessions ORDER BY started_utc, rowid")
    assert [tuple(r) for r in rows] == [
        ("P-2", "staff", None, None), ("P-3", "staff", None, None),
        ("P-2", "technician", "physician's order", "technician"),
        ("P-2", "staff", None, None)]
    overrides = _rows(kit, "SELECT role, detail_json FROM audit WHERE action = 'override'")
    assert len(overrides) == 1 and overrides[0]["role"] == "technician"
    assert "the next session is allowed from" in overrides[0]["detail_json"]
