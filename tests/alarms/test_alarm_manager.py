"""The alarm manager, one behaviour per test, driven with explicit times."""

import dataclasses
import math
from collections.abc import Callable

import pytest

from cryoctl.core.alarms import CATALOGUE as CAT
from cryoctl.core.alarms import (
    AlarmCode,
    AlarmManager,
    AlarmSnapshot,
    AlarmSpec,
    Priority,
)
from cryoctl.errors import ConfigError

C = AlarmCode
LATCHING = C.O2_LOW  # high, physiological, latching
FOLLOWING = C.SKIN_WARN  # medium, physiological, not latching


def events(mgr: AlarmManager) -> list[tuple[float, str | None, str]]:
    return [(e.at_s, e.code.value if e.code else None, e.event) for e in mgr.log]


# -- raising ------------------------------------------------------------------


def test_a_raised_alarm_shows_with_its_spec_and_is_logged() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 3.0, "19.1 %")
    (alarm,) = mgr.snapshot(3.0).alarms
    assert alarm.code is LATCHING
    assert alarm.priority is Priority.HIGH
    assert alarm.category is CAT[LATCHING].category
    assert alarm.message == CAT[LATCHING].message
    assert alarm.detail == "19.1 %"
    assert alarm.raised_at_s == 3.0
    assert alarm.condition_present and not alarm.acknowledged
    assert alarm.seq == 1
    assert mgr.is_active(LATCHING) and mgr.condition_present(LATCHING)
    assert not mgr.is_acknowledged(LATCHING)
    assert events(mgr) == [(3.0, "o2_low", "raised")]


def test_raising_again_while_active_changes_nothing() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0, "19.1 %")
    before = mgr.snapshot(1.0)
    mgr.raise_alarm(LATCHING, 2.0, "19.1 %")
    assert mgr.snapshot(2.0) == before
    assert len(mgr.log) == 1


def test_a_new_detail_updates_the_snapshot_but_not_the_log() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0, "19.1 %")
    seq = mgr.seq
    mgr.raise_alarm(LATCHING, 2.0, "18.9 %")
    (alarm,) = mgr.snapshot(2.0).alarms
    assert alarm.detail == "18.9 %"
    assert alarm.raised_at_s == 1.0 and alarm.seq == 1
    assert mgr.seq == seq + 1
    assert len(mgr.log) == 1


# -- clearing and latching ------------------------------------------------------


def test_a_non_latching_alarm_leaves_when_its_cause_goes() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(FOLLOWING, 1.0)
    mgr.clear_condition(FOLLOWING, 2.0)
    assert not mgr.is_active(FOLLOWING)
    assert mgr.snapshot(2.0).alarms == ()
    assert events(mgr)[1:] == [(2.0, "skin_warn", "cleared"), (2.0, "skin_warn", "removed")]


def test_a_latching_alarm_stays_after_its_cause_goes_until_acknowledged() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0)
    mgr.clear_condition(LATCHING, 2.0)
    (alarm,) = mgr.snapshot(2.0).alarms
    assert alarm.code is LATCHING and not alarm.condition_present
    assert mgr.audio_active(2.0)
    mgr.acknowledge(3.0)
    assert not mgr.is_active(LATCHING)
    assert events(mgr)[1:] == [
        (2.0, "o2_low", "cleared"),
        (3.0, "o2_low", "acknowledged"),
        (3.0, "o2_low", "removed"),
    ]


def test_a_latching_alarm_acknowledged_while_its_cause_lasts_leaves_when_it_goes() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0)
    mgr.acknowledge(2.0)
    assert mgr.is_active(LATCHING) and mgr.is_acknowledged(LATCHING)
    assert not mgr.audio_active(2.0)
    mgr.clear_condition(LATCHING, 3.0)
    assert not mgr.is_active(LATCHING)


def test_clearing_an_alarm_that_is_not_active_changes_nothing() -> None:
    mgr = AlarmManager()
    mgr.clear_condition(LATCHING, 1.0)
    mgr.raise_alarm(LATCHING, 2.0)
    mgr.clear_condition(LATCHING, 3.0)
    seq = mgr.seq
    mgr.clear_condition(LATCHING, 4.0)
    assert mgr.seq == seq and len(mgr.log) == 2


def test_a_cause_that_returns_to_a_latched_alarm_is_a_new_raise() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0)
    mgr.clear_condition(LATCHING, 2.0)
    seen = mgr.snapshot(2.5)
    mgr.raise_alarm(LATCHING, 3.0, "again")
    (alarm,) = mgr.snapshot(3.0).alarms
    assert alarm.condition_present and not alarm.acknowledged
    assert alarm.raised_at_s == 1.0
    assert alarm.seq > seen.seq
    # The panel saw "cause gone"; its acknowledgement must not silence the return.
    mgr.acknowledge(4.0, up_to_seq=seen.seq)
    assert not mgr.is_acknowledged(LATCHING)
    assert events(mgr)[-1] == (3.0, "o2_low", "raised")


# -- acknowledgement ------------------------------------------------------------


def test_acknowledge_up_to_a_snapshot_leaves_later_alarms_alone() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.SKIN_STOP, 1.0)
    seen = mgr.snapshot(1.0)
    mgr.raise_alarm(C.ESTOP, 1.5)
    mgr.acknowledge(2.0, up_to_seq=seen.seq)
    assert mgr.is_acknowledged(C.SKIN_STOP)
    assert not mgr.is_acknowledged(C.ESTOP)
    assert mgr.audio_active(2.0)


def test_acknowledge_one_code() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.SKIN_STOP, 1.0)
    mgr.raise_alarm(C.ESTOP, 1.0)
    mgr.acknowledge(2.0, code=C.ESTOP)
    assert mgr.is_acknowledged(C.ESTOP)
    assert not mgr.is_acknowledged(C.SKIN_STOP)


def test_acknowledging_nothing_new_is_not_a_change() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0)
    mgr.acknowledge(2.0)
    seq, n = mgr.seq, len(mgr.log)
    mgr.acknowledge(3.0)
    mgr.acknowledge(3.0, up_to_seq=0)
    assert (mgr.seq, len(mgr.log)) == (seq, n)


def test_a_non_latching_alarm_acknowledged_is_silent_but_visible() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(FOLLOWING, 1.0)
    mgr.acknowledge(2.0)
    assert mgr.snapshot(2.0).codes() == (FOLLOWING,)
    assert not mgr.audio_active(2.0)


def test_an_acknowledged_alarm_raised_again_after_it_left_is_unacknowledged() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 1.0)
    mgr.acknowledge(2.0)
    mgr.clear_condition(LATCHING, 3.0)
    mgr.raise_alarm(LATCHING, 4.0)
    (alarm,) = mgr.snapshot(4.0).alarms
    assert not alarm.acknowledged and alarm.raised_at_s == 4.0
    assert mgr.audio_active(4.0)


# -- priorities and order ---------------------------------------------------------


def test_snapshot_is_sorted_by_priority_then_raise_time() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ZONE_CAP, 1.0)
    mgr.raise_alarm(C.SKIN_WARN, 2.0)
    mgr.raise_alarm(C.COMM_LOST, 3.0)
    mgr.raise_alarm(C.ESTOP, 4.0)
    mgr.raise_alarm(C.STALE_DATA, 4.0)
    assert mgr.snapshot(5.0).codes() == (
        C.COMM_LOST, C.ESTOP, C.SKIN_WARN, C.STALE_DATA, C.ZONE_CAP,
    )
    assert mgr.highest_active() is Priority.HIGH


def test_highest_active_follows_the_active_set() -> None:
    mgr = AlarmManager()
    assert mgr.highest_active() is None
    mgr.raise_alarm(C.ZONE_CAP, 1.0)
    assert mgr.highest_active() is Priority.LOW
    mgr.raise_alarm(C.STALE_DATA, 1.0)
    assert mgr.highest_active() is Priority.MEDIUM
    mgr.clear_condition(C.STALE_DATA, 2.0)
    assert mgr.highest_active() is Priority.LOW


def test_audio_priority_is_the_highest_unacknowledged() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 1.0)
    mgr.raise_alarm(C.ZONE_CAP, 1.0)
    assert mgr.snapshot(1.0).audio_priority is Priority.HIGH
    mgr.acknowledge(2.0, code=C.ESTOP)
    assert mgr.snapshot(2.0).audio_priority is Priority.LOW
    mgr.acknowledge(3.0)
    assert mgr.snapshot(3.0).audio_priority is None


# -- audio pause ------------------------------------------------------------------


def test_audio_pause_silences_for_120_s_and_hides_nothing() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 10.0)
    mgr.raise_alarm(FOLLOWING, 10.0)
    before = mgr.snapshot(10.0)
    mgr.pause_audio(20.0)
    during = mgr.snapshot(20.0)
    assert during.alarms == before.alarms
    assert not during.audio_active
    assert during.audio_paused_until_s == 140.0
    assert not mgr.audio_active(139.999)
    assert mgr.audio_active(140.0)
    assert mgr.snapshot(140.0).audio_paused_until_s is None
    assert events(mgr)[-1] == (20.0, None, "audio_paused")


def test_a_new_alarm_during_a_pause_sounds_at_once() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 0.0)
    mgr.pause_audio(1.0)
    mgr.raise_alarm(C.ZONE_CAP, 2.0)  # even a low-priority one
    snap = mgr.snapshot(2.0)
    assert snap.audio_active and snap.audio_paused_until_s is None
    assert snap.audio_priority is Priority.HIGH


def test_a_pause_with_nothing_sounding_does_not_mute_the_next_alarm() -> None:
    mgr = AlarmManager()
    mgr.pause_audio(0.0)
    mgr.raise_alarm(C.O2_LOW, 1.0)
    assert mgr.audio_active(1.0)


def test_pausing_again_restarts_the_pause() -> None:
    mgr = AlarmManager(audio_pause_s=30.0)
    mgr.raise_alarm(C.ESTOP, 0.0)
    mgr.pause_audio(0.0)
    mgr.pause_audio(20.0)
    assert not mgr.audio_active(49.0)
    assert mgr.audio_active(50.0)


def test_a_pause_does_not_acknowledge_anything() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(LATCHING, 0.0)
    mgr.clear_condition(LATCHING, 1.0)
    mgr.pause_audio(2.0)
    assert mgr.is_active(LATCHING) and not mgr.is_acknowledged(LATCHING)
    assert mgr.audio_active(122.0)


# -- snapshot, log, time ---------------------------------------------------------


def test_a_snapshot_is_frozen_and_does_not_follow_later_changes() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 0.0)
    snap = mgr.snapshot(0.0)
    mgr.acknowledge(1.0)
    mgr.raise_alarm(C.ZONE_CAP, 1.0)
    assert isinstance(snap, AlarmSnapshot)
    assert snap.codes() == (C.ESTOP,) and not snap.alarms[0].acknowledged
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.seq = 99  # type: ignore[misc]
    assert mgr.snapshot(1.0).seq > snap.seq


def test_every_change_bumps_seq() -> None:
    mgr = AlarmManager()
    seqs = [mgr.seq]
    steps: list[Callable[[], None]] = [
        lambda: mgr.raise_alarm(LATCHING, 1.0),
        lambda: mgr.clear_condition(LATCHING, 2.0),
        lambda: mgr.pause_audio(3.0),
        lambda: mgr.acknowledge(4.0),
    ]
    for step in steps:
        step()
        seqs.append(mgr.seq)
    assert seqs == sorted(set(seqs))


def test_the_log_keeps_only_the_newest_entries() -> None:
    mgr = AlarmManager(log_capacity=5)
    for i in range(10):
        mgr.raise_alarm(FOLLOWING, float(i))
        mgr.clear_condition(FOLLOWING, float(i))
    # Three entries per round (raised, cleared, removed): the newest five.
    assert [(e.at_s, e.event) for e in mgr.log] == [
        (8.0, "cleared"), (8.0, "removed"), (9.0, "raised"), (9.0, "cleared"), (9.0, "removed"),
    ]


def test_default_log_keeps_1000_entries() -> None:
    mgr = AlarmManager()
    for i in range(600):
        mgr.raise_alarm(FOLLOWING, float(i))
        mgr.clear_condition(FOLLOWING, float(i))
    assert len(mgr.log) == 1000
    assert mgr.log[-1].event == "removed"


@pytest.mark.parametrize("bad_now_s", [5.0, math.nan, -math.inf, math.inf])
def test_a_stale_or_bad_time_is_taken_as_the_latest_time_seen(bad_now_s: float) -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 10.0)
    mgr.pause_audio(bad_now_s)
    assert mgr.snapshot(10.0).audio_paused_until_s == 130.0
    mgr.raise_alarm(C.ZONE_CAP, bad_now_s)
    assert [e.at_s for e in mgr.log] == [10.0, 10.0, 10.0]
    assert all(isinstance(e.at_s, float) for e in mgr.log)


def test_integer_times_are_logged_as_floats() -> None:
    mgr = AlarmManager()
    mgr.raise_alarm(C.ESTOP, 3)
    assert type(mgr.log[0].at_s) is float


# -- construction ---------------------------------------------------------------


@pytest.mark.parametrize("pause_s", [0.0, -1.0, math.nan, math.inf, 120.001])
def test_the_audio_pause_must_be_positive_and_at_most_120_s(pause_s: float) -> None:
    with pytest.raises(ConfigError):
        AlarmManager(audio_pause_s=pause_s)


def test_the_log_must_hold_something() -> None:
    with pytest.raises(ConfigError):
        AlarmManager(log_capacity=0)


def test_a_catalogue_must_cover_every_code() -> None:
    partial: dict[AlarmCode, AlarmSpec] = {c: s for c, s in CAT.items() if c is not C.ESTOP}
    with pytest.raises(ConfigError, match="estop"):
        AlarmManager(catalogue=partial)


def test_a_catalogue_must_file_each_spec_under_its_own_code() -> None:
    swapped = dict(CAT)
    swapped[C.ESTOP] = CAT[C.ZONE_CAP]
    with pytest.raises(ConfigError, match="estop"):
        AlarmManager(catalogue=swapped)


def test_a_custom_catalogue_changes_latching() -> None:
    relaxed = dict(CAT)
    relaxed[C.ESTOP] = dataclasses.replace(CAT[C.ESTOP], latching=False)
    mgr = AlarmManager(catalogue=relaxed)
    mgr.raise_alarm(C.ESTOP, 0.0)
    mgr.clear_condition(C.ESTOP, 1.0)
    assert not mgr.is_active(C.ESTOP)


# -- reading the log incrementally ---------------------------------------------


def test_log_entries_are_numbered_and_can_be_read_since_a_number() -> None:
    mgr = AlarmManager(log_capacity=4)
    assert mgr.log_count == 0 and mgr.log_since(0) == ()
    mgr.raise_alarm(FOLLOWING, 1.0)
    mgr.clear_condition(FOLLOWING, 2.0)
    assert [e.number for e in mgr.log] == [1, 2, 3]
    assert [e.event for e in mgr.log_since(1)] == ["cleared", "removed"]
    assert mgr.log_since(3) == () and mgr.log_since(99) == ()
    mgr.raise_alarm(FOLLOWING, 3.0)
    mgr.clear_condition(FOLLOWING, 4.0)
    assert mgr.log_count == 6
    # Entries 1 and 2 were dropped: the reader sees the gap in the numbers.
    assert [e.number for e in mgr.log_since(1)] == [3, 4, 5, 6]
    assert [e.number for e in mgr.log_since(4)] == [5, 6]
    assert [e.number for e in mgr.log_since(-5)] == [3, 4, 5, 6]
