"""Properties of the alarm manager under any sequence of raise, clear, acknowledge,
audio pause and passing time, checked against a small reference model.

The model knows nothing of the manager's change numbers: it counts raises itself
(a raise counts when the alarm was not active, or when its cause comes back to a
latched alarm) and ties every snapshot the "panel" takes to that count.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from cryoctl.core.alarms import CATALOGUE, AlarmCode, AlarmManager, AlarmSnapshot

PAUSE_S = 120.0
# A few codes, so that the same alarm is raised, cleared and acknowledged often:
# latching high (two), non-latching medium and low.
CODES = [AlarmCode.O2_LOW, AlarmCode.ESTOP, AlarmCode.SKIN_WARN, AlarmCode.ZONE_CAP]
STEPS_S = st.one_of(
    st.sampled_from([0.0, 0.001, 1.0, 60.0, 119.999, PAUSE_S, 120.001]),
    st.floats(min_value=0.0, max_value=300.0),
)
# How far behind the test clock a caller's time may lag (a stale reading).
LAG_S = st.sampled_from([0.0, 0.0, 0.0, 2.5, 500.0])


@dataclass
class Expected:
    cond: bool = False
    acked: bool = False
    #: The raise count at this alarm's latest raise.
    raised_as: int = 0


@dataclass(frozen=True)
class Seen:
    """A snapshot the panel read, and how many raises the model had counted by then."""

    snapshot: AlarmSnapshot
    raises: int


@dataclass
class Model:
    active: dict[AlarmCode, Expected] = field(default_factory=dict)
    raises: int = 0
    paused_until_s: float | None = None
    latest_s: float = 0.0

    def sounding(self, now_s: float) -> bool:
        paused = self.paused_until_s is not None and now_s < self.paused_until_s
        return not paused and any(not e.acked for e in self.active.values())


class AlarmMachine(RuleBasedStateMachine):
    seen = Bundle("seen")

    def __init__(self) -> None:
        super().__init__()
        self.mgr = AlarmManager(audio_pause_s=PAUSE_S)
        self.model = Model()
        self.now_s = 1000.0
        self.last_seq = 0

    def _at(self, lag_s: float) -> float:
        """The time a caller passes, and the model's view of the time the manager uses."""
        at_s = self.now_s - lag_s
        self.model.latest_s = max(self.model.latest_s, at_s)
        return at_s

    # -- rules -----------------------------------------------------------------

    @rule(code=st.sampled_from(CODES), lag_s=LAG_S, detail=st.sampled_from(["", "a", "b"]))
    def raise_alarm(self, code: AlarmCode, lag_s: float, detail: str) -> None:
        was = self.model.active.get(code)
        self.mgr.raise_alarm(code, self._at(lag_s), detail)
        if was is not None and was.cond:
            return
        self.model.raises += 1
        if was is None:
            self.model.active[code] = Expected(cond=True, raised_as=self.model.raises)
        else:
            was.cond, was.acked, was.raised_as = True, False, self.model.raises
        self.model.paused_until_s = None
        # A new raise sounds at once, whatever pause was running.
        assert self.mgr.audio_active(self.now_s)
        assert self.mgr.snapshot(self.now_s).audio_paused_until_s is None

    @rule(code=st.sampled_from(CODES), lag_s=LAG_S)
    def clear_condition(self, code: AlarmCode, lag_s: float) -> None:
        self.mgr.clear_condition(code, self._at(lag_s))
        exp = self.model.active.get(code)
        if exp is None or not exp.cond:
            return
        exp.cond = False
        if exp.acked or not CATALOGUE[code].latching:
            del self.model.active[code]

    @rule(target=seen)
    def read_snapshot(self) -> Seen:
        return Seen(self.mgr.snapshot(self.now_s), self.model.raises)

    @rule(seen=seen, code=st.none() | st.sampled_from(CODES), lag_s=LAG_S)
    def acknowledge_what_was_seen(self, seen: Seen, code: AlarmCode | None, lag_s: float) -> None:
        unseen = {
            c for c, e in self.model.active.items() if e.raised_as > seen.raises and not e.acked
        }
        self.mgr.acknowledge(self._at(lag_s), up_to_seq=seen.snapshot.seq, code=code)
        self._apply_ack(lambda e: e.raised_as <= seen.raises, code)
        # Nothing raised after the snapshot is acknowledged by it.
        for c in unseen:
            assert self.mgr.is_active(c) and not self.mgr.is_acknowledged(c)

    @rule(code=st.none() | st.sampled_from(CODES), lag_s=LAG_S)
    def acknowledge_all(self, code: AlarmCode | None, lag_s: float) -> None:
        self.mgr.acknowledge(self._at(lag_s), code=code)
        self._apply_ack(lambda e: True, code)

    def _apply_ack(self, covered: Callable[[Expected], bool], code: AlarmCode | None) -> None:
        for c, e in list(self.model.active.items()):
            if e.acked or (code is not None and c is not code) or not covered(e):
                continue
            e.acked = True
            if not e.cond:
                del self.model.active[c]

    @rule(lag_s=LAG_S)
    def pause_audio(self, lag_s: float) -> None:
        before = self.mgr.snapshot(self.now_s)
        at_s = self._at(lag_s)
        self.mgr.pause_audio(at_s)
        self.model.paused_until_s = self.model.latest_s + PAUSE_S
        after = self.mgr.snapshot(self.now_s)
        # A pause hides nothing and acknowledges nothing.
        assert [(a.code, a.acknowledged) for a in after.alarms] == [
            (a.code, a.acknowledged) for a in before.alarms
        ]
        assert after.audio_active == self.model.sounding(self.now_s)

    @rule(step_s=STEPS_S)
    def time_passes(self, step_s: float) -> None:
        self.now_s += step_s

    @precondition(lambda self: self.model.paused_until_s is not None)
    @rule()
    def wait_out_the_pause(self) -> None:
        assert self.model.paused_until_s is not None
        self.now_s = max(self.now_s, self.model.paused_until_s)
        # The pause ends after exactly audio_pause_s.
        assert self.mgr.snapshot(self.now_s).audio_paused_until_s is None
        assert self.mgr.audio_active(self.now_s) == any(
            not e.acked for e in self.model.active.values()
        )

    # -- invariants ------------------------------------------------------------

    @invariant()
    def alarms_stay_until_their_time_to_leave(self) -> None:
        snap = self.mgr.snapshot(self.now_s)
        shown = {a.code: a for a in snap.alarms}
        assert set(shown) == set(self.model.active)
        for code, exp in self.model.active.items():
            assert (shown[code].condition_present, shown[code].acknowledged) == (
                exp.cond,
                exp.acked,
            ), code

    @invariant()
    def audio_follows_unacknowledged_alarms_and_the_pause(self) -> None:
        snap = self.mgr.snapshot(self.now_s)
        assert snap.audio_active == self.mgr.audio_active(self.now_s)
        assert snap.audio_active == self.model.sounding(self.now_s)
        until = self.model.paused_until_s
        expected_until = until if until is not None and self.now_s < until else None
        assert snap.audio_paused_until_s == expected_until

    @invariant()
    def snapshot_is_ordered_and_seq_never_goes_back(self) -> None:
        snap = self.mgr.snapshot(self.now_s)
        keys = [(-a.priority, a.raised_at_s) for a in snap.alarms]
        assert keys == sorted(keys)
        assert snap.seq >= self.last_seq
        self.last_seq = snap.seq

    @invariant()
    def log_times_never_go_back(self) -> None:
        times = [e.at_s for e in self.mgr.log]
        assert times == sorted(times)
        assert all(t <= self.now_s for t in times)
        # One "raised" entry per raise, none for repeats of a present cause.
        assert sum(e.event == "raised" for e in self.mgr.log) == self.model.raises
        assert [e.number for e in self.mgr.log] == list(range(1, self.mgr.log_count + 1))


AlarmMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestAlarmMachine = AlarmMachine.TestCase
