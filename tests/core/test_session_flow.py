"""A treatment from start-up to the end, in virtual time, asserted on the unit's history."""

from __future__ import annotations

import pytest
from core_rig import Rig, make_rig, shipped

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.core.machine import Phase
from cryoctl.core.session import Outcome
from cryoctl.errors import MachineRefused


def test_dwell_cutoff_closes_at_the_exact_deadline(n2_rig: Rig) -> None:
    rig = n2_rig
    rig.boot(shipped("n2-face-cryomassage"))  # forehead: 3 s dwell
    rig.act("start_session")
    rig.run(0.013)
    rig.unit.press_trigger()
    rig.run(10)
    [(opened, closed)] = rig.unit.open_intervals()
    assert closed is not None
    assert closed - opened == pytest.approx(3.0, abs=1e-9)
    assert rig.treatment.alarms.is_active(AlarmCode.DWELL_CUTOFF)
    assert rig.treatment.phase is Phase.ARMED  # held: the pass is still open
    assert rig.core.supervisor.interventions == 0


def test_no_tie_down_and_rest_between_passes(n2_rig: Rig) -> None:
    rig = n2_rig
    rig.boot(shipped("n2-face-cryomassage"))  # 2 passes, 30 s rest
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(5)
    rig.run(20)  # still held after the cut-off: nothing opens
    assert len(rig.unit.open_intervals()) == 1
    rig.unit.release_trigger()
    rig.run(1)
    assert rig.treatment.phase is Phase.RESTING
    rig.unit.press_trigger()
    rig.run(1)
    assert len(rig.unit.open_intervals()) == 1, "sprayed during the rest"
    rig.unit.release_trigger()
    rig.run(29.5)
    rig.unit.press_trigger()
    rig.run(1)
    spans = rig.unit.open_intervals()
    assert len(spans) == 2
    released_at = spans[0][0] + 30.0  # released 25 s after a 3 s spray... at t0 + 25
    assert spans[1][0] >= released_at
    assert rig.core.supervisor.interventions == 0


def test_a_pause_inside_a_rest_resumes_resting(n2_rig: Rig) -> None:
    rig = n2_rig
    rig.boot(shipped("n2-face-cryomassage"))  # 30 s rest
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(1)
    rig.unit.release_trigger()
    rig.run(1)
    rig.act("pause")
    rig.run(5)
    rig.act("resume")
    assert rig.treatment.phase is Phase.RESTING
    assert "resting" in rig.treatment.spray_refusals(rig.clock())
    rig.unit.press_trigger()
    rig.run(1)
    assert len(rig.unit.open_intervals()) == 1, "sprayed during the rest"
    rig.unit.release_trigger()
    rig.run(29)  # the rest counts from the release, pause or not
    assert rig.treatment.phase is Phase.ARMED
    assert rig.core.supervisor.interventions == 0


def test_wrong_nozzle_never_sprays_and_alarms() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="A")
    rig.boot(shipped("n2-face-cryomassage"))
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(2)
    assert rig.unit.open_intervals() == []
    assert rig.treatment.alarms.is_active(AlarmCode.NOZZLE_MISMATCH)
    assert any("nozzle" in r for r in rig.treatment.refusals)


def test_estop_closes_first_latches_and_reset_leads_to_idle(n2_rig: Rig) -> None:
    rig = n2_rig
    rig.boot(shipped("n2-face-cryomassage"))
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.run(1)
    assert rig.unit.valve_open
    rig.unit.press_estop_button()
    assert not rig.unit.valve_open
    assert rig.treatment.phase is Phase.ESTOP
    assert rig.treatment.records[-1].outcome is Outcome.ESTOP
    rig.act("request_estop_reset")
    rig.run(0.1)
    assert rig.treatment.phase is Phase.ESTOP, "reset while the button is still pressed"
    rig.unit.release_estop_button()
    rig.unit.estop_latched = False
    rig.act("request_estop_reset")
    rig.run(0.1)
    assert rig.treatment.phase is Phase.IDLE
    rig.run(5)
    assert not rig.unit.valve_open
    with pytest.raises(MachineRefused):
        rig.act("start_session")


def _lesion_session(period_s: float) -> Rig:
    """n2-common-wart: 10 sites x 2 passes held past the 10 s dwell, 30 s rests, then finish."""
    rig = make_rig(N2_CAPABILITIES, nozzle="C", period_s=period_s)
    loaded = shipped("n2-common-wart")
    rig.boot(loaded)
    rig.act("start_session")
    zone = loaded.profile.zones[0]
    for site in range(zone.repeat):
        if site:
            rig.act("next_site")
        for _ in range(zone.passes):
            rig.unit.press_trigger()
            rig.run(12)  # held past the dwell: cut off at 10 s
            rig.unit.release_trigger()
            rig.run(zone.rest_s)
    rig.act("finish")
    return rig


def test_whole_session_in_virtual_time() -> None:
    """Fourteen minutes of lesion treatment, every site and pass, then finish.

    At 10 Hz, the property suite's loop rate: the dose does not depend on the rate
    (the next test). Its wall time is a number for the benchmarks (``bench/run.py
    core``), not for this test's output.
    """
    rig = _lesion_session(period_s=0.1)
    loaded = rig.treatment.loaded
    assert loaded is not None
    zone = loaded.profile.zones[0]
    record = rig.treatment.records[-1]
    assert record.outcome is Outcome.COMPLETED
    sprays = rig.unit.open_intervals()
    assert len(sprays) == zone.repeat * zone.passes
    assert all(c is not None and c - o == pytest.approx(zone.max_dwell_s) for o, c in sprays)
    assert record.ledger.session.passes == zone.repeat * zone.passes
    assert 800.0 < record.treated_s < loaded.profile.session.max_session_s
    assert record.ledger.session.cryogen_g <= loaded.profile.session.max_cryogen_g + 1e-6
    assert record.ledger.session.open_s == pytest.approx(sum(c - o for o, c in sprays if c))
    assert rig.core.supervisor.interventions == 0


def test_the_dose_does_not_depend_on_the_loop_rate() -> None:
    """Closes fall on exact deadlines, not on ticks: 10 Hz and 50 Hz give the same dose."""
    slow = _lesion_session(period_s=0.1)
    fast = _lesion_session(period_s=0.02)
    a, b = slow.treatment.records[-1].ledger, fast.treatment.records[-1].ledger
    assert a.session.open_s == pytest.approx(b.session.open_s, abs=1e-6)
    assert a.session.cryogen_g == pytest.approx(b.session.cryogen_g, abs=1e-6)
    assert [z.passes for z in a.zones] == [z.passes for z in b.zones]
    spans_slow = [c - o for o, c in slow.unit.open_intervals() if c is not None]
    spans_fast = [c - o for o, c in fast.unit.open_intervals() if c is not None]
    assert spans_slow == pytest.approx(spans_fast, abs=1e-9)
