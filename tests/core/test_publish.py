"""What the controller publishes: snapshots at each change, and the events of a session."""

from __future__ import annotations

from core_rig import make_rig, shipped

from cryoctl.core.fake_unit import N2_CAPABILITIES
from cryoctl.core.snapshot import ControlEvent, Snapshot

PERIOD_S = 0.02


def test_a_session_publishes_its_start_its_countdowns_its_alarms_and_its_end() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=PERIOD_S)
    heard: list[Snapshot | ControlEvent] = []
    rig.controller.subscribe(heard.append)
    loaded = shipped("n2-face-cryomassage")
    rig.boot(loaded)
    rig.act("start_session")
    rig.unit.press_trigger()
    rig.settle()
    rig.run(1.0)
    snaps = [h for h in heard if isinstance(h, Snapshot)]
    spraying = [s for s in snaps if s.session is not None and s.session.spraying]
    assert spraying, "no snapshot while spraying"
    lefts = [s.session.spray_left_s for s in spraying if s.session is not None]
    assert lefts == sorted(lefts, reverse=True) and lefts[0] is not None
    dwell_s = loaded.profile.zones[0].max_dwell_s
    assert dwell_s - 1.0 <= lefts[-1] <= dwell_s - 1.0 + 2 * PERIOD_S  # type: ignore[operator]
    last = spraying[-1]
    assert last.phase == "treating_spraying" and last.profile is not None
    assert last.profile.sha256 == loaded.sha256
    assert last.unit is not None and last.unit.fast_age_s <= 2 * PERIOD_S
    assert [s.seq for s in snaps] == sorted({s.seq for s in snaps}), "seq must grow by one"
    rig.host_estop("panel")
    names = [h.name for h in heard if isinstance(h, ControlEvent)]
    assert "session_started" in names and "session_ended" in names
    assert names.index("session_started") < names.index("session_ended")
    started = next(h for h in heard if isinstance(h, ControlEvent) and h.name == "session_started")
    assert started.data["profile_sha256"] == loaded.sha256
    assert started.data["unit"] == rig.controller.identity, "a record can be written at the start"
    ended = next(h for h in heard if isinstance(h, ControlEvent) and h.name == "session_ended")
    assert ended.data["outcome"] == "estop"
    raised = [h for h in heard if isinstance(h, ControlEvent) and h.name == "alarm_raised"]
    assert any(e.data["code"] == "estop" for e in raised)
    changes = [h.data for h in heard if isinstance(h, ControlEvent) and h.name == "state_changed"]
    assert {"before": "treating_spraying", "after": "estop"} in [dict(c) for c in changes]


def test_nothing_is_republished_while_nothing_shown_changes() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=PERIOD_S)
    heard: list[Snapshot | ControlEvent] = []
    rig.controller.subscribe(heard.append)
    rig.boot(shipped("n2-face-cryomassage"))
    rig.run(0.2)
    before = len([h for h in heard if isinstance(h, Snapshot)])
    rig.run(1.0)  # ready, nothing moves: ages grow, nothing else
    after = len([h for h in heard if isinstance(h, Snapshot)])
    assert after == before
    assert rig.controller.snapshot().phase == "ready"


def test_a_listener_that_raises_never_stops_the_loop() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=PERIOD_S)

    def broken(item: Snapshot | ControlEvent) -> None:
        raise RuntimeError("listener bug")

    rig.controller.subscribe(broken)
    rig.boot(shipped("n2-face-cryomassage"))
    rig.act("start_session")
    rig.run(0.5)
    assert rig.task is not None and not rig.task.done()
    assert rig.treatment.phase.value == "treating_armed"


def test_a_lost_link_and_its_return_are_events_that_say_how_long_it_was_gone() -> None:
    rig = make_rig(N2_CAPABILITIES, nozzle="M", period_s=PERIOD_S)
    heard: list[Snapshot | ControlEvent] = []
    rig.controller.subscribe(heard.append)
    rig.boot(shipped("n2-face-cryomassage"))
    rig.act("start_session")
    rig.run(0.1)
    rig.unit.inputs.fail_reads = 25  # half a second of silence
    rig.run(1.0)
    events = {h.name: h for h in heard if isinstance(h, ControlEvent)}
    assert events["link_lost"].data["session_held"] is True
    back = events["link_back"]
    gone_s = back.data["gone_s"]
    assert isinstance(gone_s, float) and 0.4 < gone_s < 0.5
    assert rig.treatment.phase.value == "paused"
