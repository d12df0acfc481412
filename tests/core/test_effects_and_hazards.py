"""Skin, oxygen, valve effect checks, faults and the dose ledger, one behaviour each."""

from __future__ import annotations

import pytest
from core_rig import Rig, make_rig, shipped

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.core.machine import Phase
from cryoctl.core.session import Outcome
from cryoctl.core.units import ln2_flow_g_s


def spraying(rig: Rig, profile: str) -> Rig:
    rig.boot(shipped(profile))
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(0.5)
    assert rig.treatment.phase is Phase.SPRAYING
    return rig


def test_skin_below_reduce_turns_the_airflow_down_one_level(air_rig: Rig) -> None:
    rig = spraying(air_rig, "air-face-tone")  # reduce 10, warn 8, stop 5; level 4
    assert rig.treatment.commands().airflow_level == 4
    rig.unit.inputs.skin_temp_c = 9.0
    rig.run(1.0)
    assert rig.treatment.commands().airflow_level == 3
    assert rig.treatment.phase is Phase.SPRAYING
    rig.unit.inputs.skin_temp_c = 7.0
    rig.run(0.1)
    assert rig.treatment.alarms.is_active(AlarmCode.SKIN_WARN)
    assert rig.treatment.phase is Phase.SPRAYING


def test_skin_at_stop_closes_and_locks_the_zone_until_above_warn(air_rig: Rig) -> None:
    rig = spraying(air_rig, "air-face-tone")
    rig.unit.inputs.skin_temp_c = 5.0
    rig.run(0.1)
    assert not rig.unit.valve_open
    assert rig.treatment.alarms.is_active(AlarmCode.SKIN_STOP)
    rig.unit.release_trigger()
    rig.unit.inputs.skin_temp_c = 7.0
    rig.run(31.0)
    rig.unit.press_trigger()
    rig.run(0.5)
    assert not rig.unit.valve_open
    assert "skin too cold in this zone" in rig.treatment.refusals
    rig.unit.release_trigger()
    rig.unit.inputs.skin_temp_c = 12.0
    rig.run(0.1)
    rig.unit.press_trigger()
    rig.run(0.5)
    assert rig.unit.valve_open


def test_no_skin_reading_for_more_than_a_second_closes(air_rig: Rig) -> None:
    rig = spraying(air_rig, "air-face-tone")
    rig.unit.inputs.skin_temp_c = None
    lost_at = rig.clock()
    rig.run(0.9)
    assert rig.unit.valve_open
    rig.run(0.3)
    assert not rig.unit.valve_open
    [(_, closed)] = rig.unit.open_intervals()
    assert closed is not None and 1.0 < closed - lost_at <= 1.0 + 2 * rig.period_s
    assert rig.treatment.alarms.is_active(AlarmCode.SKIN_NO_READING)


def test_valve_feedback_that_does_not_follow_closes(air_rig: Rig) -> None:
    rig = spraying(air_rig, "air-face-tone")
    rig.unit.inputs.feedback_stuck = False
    stuck_at = rig.clock()
    rig.run(0.2)
    assert not rig.unit.valve_open
    [(_, closed)] = rig.unit.open_intervals()
    assert closed is not None and 0.1 < closed - stuck_at <= 0.1 + 2 * rig.period_s
    raised = [e for e in rig.treatment.alarms.log if e.code is AlarmCode.VALVE_MISMATCH]
    assert raised and raised[0].event == "raised"


def test_n2_no_flow_two_seconds_into_a_spray_closes(n2_rig: Rig) -> None:
    rig = n2_rig
    rig.unit.inputs.no_flow = True
    spraying(rig, "n2-face-cryomassage")
    started = rig.unit.open_intervals()[0][0]
    rig.run(1.4)
    assert rig.unit.valve_open
    rig.run(0.2)
    assert not rig.unit.valve_open
    [(_, closed)] = rig.unit.open_intervals()
    assert closed is not None and 2.0 <= closed - started <= 2.0 + rig.period_s + 1e-9
    assert rig.treatment.alarms.is_active(AlarmCode.NO_FLOW)


def test_tip_not_warming_after_a_close_means_stuck_open_and_estop(n2_rig: Rig) -> None:
    rig = spraying(n2_rig, "n2-face-cryomassage")
    rig.unit.inputs.stuck_open = True
    rig.unit.release_trigger()
    rig.run(4.9)
    assert rig.treatment.phase is Phase.RESTING
    rig.run(0.3)
    assert rig.treatment.alarms.is_active(AlarmCode.VALVE_STUCK_OPEN)
    assert rig.treatment.phase is Phase.ESTOP


def test_a_normal_close_warms_the_tip_and_raises_nothing(n2_rig: Rig) -> None:
    rig = spraying(n2_rig, "n2-face-cryomassage")
    rig.unit.release_trigger()
    rig.run(8.0)
    assert not rig.treatment.alarms.is_active(AlarmCode.VALVE_STUCK_OPEN)
    assert rig.treatment.phase is Phase.RESTING


def test_low_oxygen_needs_recovery_and_acknowledgement(n2_rig: Rig) -> None:
    rig = spraying(n2_rig, "n2-face-cryomassage")
    rig.unit.inputs.o2_pct = 19.0
    rig.run(0.05)
    assert not rig.unit.valve_open
    assert rig.treatment.alarms.is_active(AlarmCode.O2_LOW)
    rig.unit.release_trigger()
    rig.unit.inputs.o2_pct = 20.9
    rig.run(31.0)
    rig.unit.press_trigger()
    rig.run(0.5)
    assert not rig.unit.valve_open, "sprayed before the oxygen alarm was acknowledged"
    rig.unit.release_trigger()
    rig.act("acknowledge_alarms")
    rig.run(0.1)
    rig.unit.press_trigger()
    rig.run(0.5)
    assert rig.unit.valve_open


def test_oxygen_below_18_latches_a_fault_until_reset(n2_rig: Rig) -> None:
    rig = spraying(n2_rig, "n2-face-cryomassage")
    rig.unit.inputs.o2_pct = 17.5
    rig.run(0.05)
    assert rig.treatment.phase is Phase.FAULT
    assert rig.treatment.records[-1].outcome is Outcome.FAULT
    rig.act("request_fault_reset")
    rig.run(0.1)
    assert rig.treatment.phase is Phase.FAULT
    rig.unit.inputs.o2_pct = 20.9
    rig.act("request_fault_reset")
    rig.run(0.1)
    assert rig.treatment.phase is Phase.IDLE


def test_ledger_grams_follow_the_nozzle_table_at_the_set_pressure() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="C")
    loaded = shipped("n2-common-wart")  # C at 60 kPa, 10 s dwell
    rig.boot(loaded)
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(4.0)
    rig.unit.release_trigger()
    rig.run(0.1)
    s = rig.treatment.session
    assert s is not None
    [(opened, closed)] = rig.unit.open_intervals()
    assert closed is not None
    dose = s.ledger.site((0, 0))
    assert dose.open_s == pytest.approx(closed - opened)
    assert dose.cryogen_g == pytest.approx((closed - opened) * ln2_flow_g_s(0.25, 60.0))
    assert dose.passes == 1 and dose.sprays == 1
    assert s.ledger.summary().session == s.ledger.zone(0)
