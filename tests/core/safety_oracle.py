"""An independent judge of the valve commands a rig produced, against DESIGN.md's invariants.

It keeps its own books from the outputs and from what the test did (presses,
releases, zone changes, pauses, e-stops): it shares no code with the machine or
the supervisor beyond reading the profile and the status each output was decided
on. ``machine_only`` also fails on every supervisor intervention, so a machine
that needs to be overruled is caught even though the valve stayed safe.
"""

from __future__ import annotations

import math

from core_rig import Rig, Step

from cryoctl.core.alarms import AlarmCode
from cryoctl.core.machine import Phase
from cryoctl.core.port import DeviceKind
from cryoctl.core.session import Outcome
from cryoctl.profile import CjAirDevice, LoadedProfile, N2Device
from cryoctl.profile.ceilings import CJAIR_OPEN_CAP_MARGIN_S

EPS = 1e-6
O2_LOW_PCT = 19.5
#: Telemetry may be this old when a spray relies on it (or two periods, if longer).
TELEMETRY_MAX_AGE_S = 0.3
#: CJ-Air: longest gap in skin readings while spraying (both layers count one period more).
SKIN_GAP_S = 1.0
#: CJ-Air: the heartbeat echo may lag this long when a spray relies on the readings.
ECHO_MAX_AGE_S = 0.5
#: N2: a tip between these holding its value this long in a spray is a frozen reading.
FROZEN_TIP_S = 1.0
FROZEN_BAND_C = (-190.0, 15.0)
#: A session running when the core enters one of these phases ends recorded so (a lost
#: link holds it, paused, for the grace time: see ``_judge_outage``).
_SESSION_ENDS = {
    Phase.ESTOP: Outcome.ESTOP,
    Phase.FAULT: Outcome.FAULT,
}
#: Readings no sensor of either unit can give (wider than any alarm limit).
_SENSOR_RANGES = {
    "o2_pct": (0.0, 100.0),
    "pressure_kpa": (-10.0, 250.0),
    "skin_temp_c": (-60.0, 60.0),
    "tip_temp_c": (-200.0, 60.0),
}


class Oracle:
    def __init__(self, rig: Rig, loaded: LoadedProfile, *, machine_only: bool) -> None:
        self.rig = rig
        self.profile = loaded.profile
        self.machine_only = machine_only
        device = self.profile.device
        self.flow_g_s = 0.0
        if isinstance(device, N2Device):
            at_50 = rig.treatment.caps.nozzle_flow_g_s_at_50kpa[device.nozzle]
            self.flow_g_s = at_50 * math.sqrt(device.pressure_kpa / 50.0)
        self.seen = 0
        self.held = False
        self.session_start: float | None = None
        self.site = (0, 0)
        self.paused_s = 0.0
        self.paused_since: float | None = None
        self.estopped = False
        self._reset_books()
        self.opens = 0
        self.interventions = 0
        # books kept from the unit's own history
        self.told_seen = 0
        self.verified = False
        self.cap_ms: int | None = None
        self.valve_commanded = False
        self.reads: list[tuple[float, bool]] = []
        self.last_skin_s = -math.inf
        self.disconnected_since: float | None = None
        self.read_ok_seen_s: float | None = None
        self.failed_at_read_ok = 0
        self.was_disconnected = False
        self.tip_seen: tuple[float, float] | None = None  # (value, since)

    def _reset_books(self) -> None:
        self.open_since: float | None = None
        self.prev_t: float | None = None
        self.site_open: dict[tuple[int, int], float] = {}
        self.site_opens: dict[tuple[int, int], int] = {}
        self.last_close: dict[tuple[int, int], float] = {}
        self.rest_until: dict[tuple[int, int], float] = {}
        self.session_open_s = 0.0
        self.released_since_close = True
        self.pass_open = False
        self.skin_locked: set[int] = set()

    # -- what the test did ---------------------------------------------------------

    def started(self, t: float) -> None:
        self.judge()
        self._reset_books()
        self.session_start, self.site = t, (0, 0)
        self.paused_s, self.paused_since, self.estopped = 0.0, None, False

    def ended(self) -> None:
        self.judge()
        self.session_start = None

    def estop(self) -> None:
        self.judge()
        self.estopped = True

    def pressed(self, *, judge: bool = True) -> None:
        """``judge=False``: the host has just stalled, and what it owes is judged once it
        has run again (nothing can be sent during a stall)."""
        if judge:
            self.judge()
        self.held = True

    def released(self, t: float, *, judge: bool = True) -> None:
        if judge:
            self.judge()
        self.held = False
        self.released_since_close = True
        self._end_pass(t)

    def paused(self, t: float) -> None:
        self.judge()
        self._end_pass(t)
        self.paused_since = t

    def resumed(self, t: float) -> None:
        self.judge()
        if self.paused_since is not None:
            self.paused_s += t - self.paused_since
            self.paused_since = None

    def moved(self, site: tuple[int, int]) -> None:
        self.judge()
        self.site, self.pass_open = site, False

    def _end_pass(self, t: float) -> None:
        if self.pass_open:
            self.pass_open = False
            self.rest_until[self.site] = t + self.profile.zones[self.site[0]].rest_s

    # -- judging ---------------------------------------------------------------------

    def judge(self) -> None:
        steps = self.rig.steps
        while self.seen < len(steps):
            step = steps[self.seen]
            self.seen += 1
            self._judge(step.at_s, step)
        self._judge_history()
        self._judge_now()

    def _judge_history(self) -> None:
        """What the unit was told: protection read back before any open, the CJ-Air cap
        at the zone's dwell, lease renewals and heartbeats only from a cycle that read
        on time."""
        history = self.rig.unit.history
        period = self.rig.period_s
        while self.told_seen < len(history):
            told = history[self.told_seen]
            self.told_seen += 1
            what, at = told.what, told.at_s
            if what in ("connect", "reset_estop", "reset_faults"):
                self.verified = False
            elif what == "configured":
                self.verified = True
                self.cap_ms = getattr(told.value, "max_open_ms", None)
            elif what == "capped":
                assert isinstance(told.value, int)
                self.cap_ms = told.value
            elif what == "read_status":
                self.reads.append((at, True))
            elif what == "failed" and told.value == "read" and self.reads:
                self.reads[-1] = (self.reads[-1][0], False)
            elif what == "valve":
                if told.value is True:
                    assert self.verified, "opened with protection unverified since reset/reconnect"
                    self._judge_cap()
                self.valve_commanded = bool(told.value)
            elif (what == "open" and self.valve_commanded) or what == "heartbeat":
                # a lease renewal or a heartbeat: right after a read that answered, with
                # the loop on time (else the unit's own expiry must be left to act)
                assert self.reads, f"{what} without a read"
                last, ok = self.reads[-1]
                assert ok and abs(last - at) <= EPS, f"{what} without a fresh answer"
                if len(self.reads) >= 2:
                    before = self.reads[-2][0]
                    assert at - before <= 2 * period + EPS, f"{what} from a late cycle"

    def _judge_cap(self) -> None:
        # The machine and the shell keep the cap; a rogue machine is held by the
        # supervisor's own dwell limit instead.
        if self.rig.treatment.caps.kind is not DeviceKind.CJ_AIR or not self.machine_only:
            return
        zone = self.profile.zones[self.site[0]]
        wanted = round((zone.max_dwell_s + CJAIR_OPEN_CAP_MARGIN_S) * 1000)
        assert self.cap_ms == wanted, f"opened with the unit's cap at {self.cap_ms}, not {wanted}"

    def _judge_shell(self) -> None:
        """A commanded close is confirmed or still being sent, every cycle."""
        rig = self.rig
        steps = rig.steps
        commanded_open = bool(steps) and steps[-1].out.valve_open
        if rig.unit.valve_open and not commanded_open:
            closes = [t.at_s for t in rig.unit.history if t.what == "close"]
            assert rig.controller.close_pending, "valve open at the unit, no close pending"
            assert closes and rig.clock() - closes[-1] <= rig.period_s + EPS, (
                "a close the unit did not confirm is not being sent again"
            )

    def _judge_now(self) -> None:
        self._judge_shell()
        t = self.rig.treatment
        alarms = t.alarms
        if t.phase is Phase.DISCONNECTED:
            assert alarms.is_active(AlarmCode.COMM_LOST), "link lost without an alarm"
        if t.phase is Phase.ESTOP:
            assert alarms.is_active(AlarmCode.ESTOP), "e-stop without an alarm"
            # open only while a lost or ignored close is being sent again (_judge_shell)
            assert not self.rig.unit.valve_open or self.rig.controller.close_pending, (
                "valve open in e-stop"
            )
        st = t.status
        if st is not None and st.o2_pct is not None and st.o2_pct < O2_LOW_PCT:
            assert alarms.is_active(AlarmCode.O2_LOW), "low oxygen without an alarm"
        if self.machine_only:
            self._judge_reasons()

    def _judge_reasons(self) -> None:
        """Between passes the machine rests for the rest time, and the reasons it gives
        staff for not spraying name every condition in the way (the panel shows them)."""
        t, now = self.rig.treatment, self.rig.clock()
        st = t.status
        if t.phase not in (Phase.ARMED, Phase.RESTING) or st is None or self.session_start is None:
            return
        rest_end = self.rest_until.get(self.site, -math.inf)
        if t.phase is Phase.ARMED:
            assert now >= rest_end - EPS, f"armed {rest_end - now:.3f} s before the rest is over"
        zone = self.profile.zones[self.site[0]]
        reasons = t.spray_refusals(now)
        expected = {
            "trigger not held": not st.trigger,
            "resting": now < rest_end - EPS,
            "skin too cold in this zone": self.site[0] in self.skin_locked,
            f"all {zone.passes} passes done": (
                not self.pass_open and self.site_opens.get(self.site, 0) >= zone.passes
            ),
            f"{AlarmCode.O2_LOW.value} alarm": t.alarms.is_active(AlarmCode.O2_LOW),
        }
        for reason, present in expected.items():
            assert not present or reason in reasons, f"{reason!r} not among {reasons}"
        if st.o2_pct is None or st.o2_pct < O2_LOW_PCT:
            assert any("oxygen" in r for r in reasons), f"oxygen not among {reasons}"
        if st.nozzle != self.profile.device.nozzle:
            assert any("nozzle" in r for r in reasons), f"nozzle not among {reasons}"
        for name, (low, high) in _SENSOR_RANGES.items():
            value = getattr(st, name)
            if value is not None and not low <= value <= high:
                assert any("implausible" in r for r in reasons), f"{name} {value} not refused"

    def _judge(self, t: float, step: Step) -> None:
        out = step.out
        ended_as = _SESSION_ENDS.get(step.phase)
        if ended_as is not None and self.session_start is not None:
            records = self.rig.treatment.records
            assert records and records[-1].outcome is ended_as, f"{step.phase} not recorded"
            self.session_start = None
        self._judge_outage(t, step)
        if out.verdict.force_close:
            self.interventions += 1
            if self.machine_only:
                raise AssertionError(f"supervisor had to close at {t}: {out.verdict.reasons}")
        if self.open_since is not None and self.prev_t is not None:
            dt = t - self.prev_t
            self.site_open[self.open_site] = self.site_open.get(self.open_site, 0.0) + dt
            self.session_open_s += dt
        self.prev_t = t
        self._judge_silence(t, step)
        self._see_skin(step)
        if out.valve_open:
            self._judge_open(t, step)
        elif self.open_since is not None:
            self.open_since = None
            self.last_close[self.open_site] = t
            self.released_since_close = not self.held

    def _judge_silence(self, t: float, step: Step) -> None:
        """Lost means asked and not answered: a request failed (a read, a write, a close)
        and the unit has been silent for 3 periods. The host's own stall, every request
        answered, is not a lost link."""
        read = step.last_read_ok_s
        if read != self.read_ok_seen_s:
            self.read_ok_seen_s, self.failed_at_read_ok = read, step.failed_requests
        asked = step.failed_requests > self.failed_at_read_ok
        silent = read is not None and t - read > 3 * self.rig.period_s + EPS
        if silent and asked and step.phase not in (Phase.STARTING, Phase.ESTOP, Phase.FAULT):
            assert step.phase is Phase.DISCONNECTED, "no answer for 3 periods, not disconnected"
        if step.phase is Phase.DISCONNECTED and not self.was_disconnected:
            assert asked, "judged the link lost with every request answered (the host's stall)"
        self.was_disconnected = step.phase is Phase.DISCONNECTED

    def _judge_outage(self, t: float, step: Step) -> None:
        """A lost link holds the session, its clock stopped; past the grace it is over."""
        if step.phase is not Phase.DISCONNECTED:
            self.disconnected_since = None
            return
        if self.disconnected_since is None:
            self.disconnected_since = t
            # held like a pause: the pass ends and the session clock stops at the loss
            self._end_pass(t)
            if self.session_start is not None and self.paused_since is None:
                self.paused_since = t
        grace_s = self.rig.treatment.link_grace_s
        if self.session_start is not None and t - self.disconnected_since > grace_s + EPS:
            records = self.rig.treatment.records
            assert records and records[-1].outcome is Outcome.INTERRUPTED, (
                "a link gone longer than the grace time not recorded as interrupted"
            )
            self.session_start = None

    def _judge_ready(self, step: Step) -> None:
        st, device = step.status, self.profile.device
        assert st is not None
        if self.rig.treatment.caps.kind is DeviceKind.CJ_AIR:
            assert st.cooler_ready, "spray started with the cooler not ready"
        elif isinstance(device, N2Device):
            assert st.pressure_kpa is not None and st.dewar_level_pct is not None
            off = abs(st.pressure_kpa - device.pressure_kpa) / device.pressure_kpa
            assert off <= 0.1 and st.dewar_level_pct >= 10.0, "spray started, unit not ready"

    def _judge_budget_left(self, t: float, max_total_s: float) -> None:
        """A new spray needs time left in every budget: even a short open would overrun."""
        limits = self.profile.session
        assert self.site_open.get(self.site, 0.0) < max_total_s - EPS, "opened, zone used up"
        assert self.session_start is not None
        elapsed = t - self.session_start - self.paused_s
        assert elapsed < limits.max_session_s - EPS, "opened, session time used up"
        if limits.max_cryogen_g is not None:
            used = self.session_open_s * self.flow_g_s
            assert used < limits.max_cryogen_g - EPS, "opened, cryogen used up"

    def _see_skin(self, step: Step) -> None:
        device, st = self.profile.device, step.status
        if not isinstance(device, CjAirDevice) or st is None or st.skin_temp_c is None:
            return
        if st.skin_temp_c <= device.skin_stop_c and self.session_start is not None:
            self.skin_locked.add(self.site[0])
        elif st.skin_temp_c >= device.skin_warn_c:
            self.skin_locked.discard(self.site[0])

    def _judge_open(self, t: float, step: Step) -> None:
        p = self.profile
        zone = p.zones[self.site[0]]
        if self.machine_only:
            assert step.phase is Phase.SPRAYING, f"open in {step.phase}"
        if self.open_since is None:
            self.last_skin_s = t
            assert self.session_start is not None, "opened outside a session"
            assert not self.estopped, "opened after an e-stop without a new start"
            assert self.released_since_close, "tie-down: no release since the last close"
            if self.machine_only:
                rest_end = self.rest_until.get(self.site, -math.inf)
                assert AlarmCode.O2_LOW not in step.active, "oxygen alarm not cleared"
                self._judge_ready(step)
            else:
                rest_end = self.last_close.get(self.site, -math.inf) + zone.rest_s
            assert t >= rest_end - EPS, f"rest not over ({rest_end - t:.3f} s left)"
            assert self.site[0] not in self.skin_locked, "opened in a zone locked by the skin"
            assert self.site_opens.get(self.site, 0) < zone.passes, "more passes than allowed"
            self._judge_budget_left(t, zone.max_total_s)
            self.site_opens[self.site] = self.site_opens.get(self.site, 0) + 1
            self.open_since, self.open_site, self.pass_open = t, self.site, True
            self.opens += 1
        assert t - self.open_since <= zone.max_dwell_s + EPS, "continuous spray over dwell"
        assert self.site_open.get(self.site, 0.0) <= zone.max_total_s + EPS, "zone cap"
        start = self.session_start
        assert start is not None
        elapsed = t - start - self.paused_s
        assert self.paused_since is None, "open while paused"
        assert elapsed <= p.session.max_session_s + EPS, "session time cap"
        if p.session.max_cryogen_g is not None:
            used = self.session_open_s * self.flow_g_s
            assert used <= p.session.max_cryogen_g + EPS, "cryogen budget"
        st, read = step.status, step.last_read_ok_s
        assert st is not None and read is not None, "open without data"
        period = self.rig.period_s
        assert t - st.telemetry_at_s <= max(TELEMETRY_MAX_AGE_S, 2 * period) + EPS, (
            "open on stale telemetry"
        )
        if st.echo_at_s is not None:
            assert t - st.echo_at_s <= max(ECHO_MAX_AGE_S, 2 * period) + EPS, (
                "open on readings the unit stopped updating (heartbeat echo behind)"
            )
        tip = st.tip_temp_c
        if tip is not None:
            if self.tip_seen is None or self.tip_seen[0] != tip or self.open_since == t:
                self.tip_seen = (tip, t)
            low, high = FROZEN_BAND_C
            if low < tip < high:
                assert t - self.tip_seen[1] <= FROZEN_TIP_S + 2 * period + EPS, (
                    f"sprayed on a tip frozen at {tip} degC"
                )
        if isinstance(p.device, CjAirDevice):
            if st.skin_temp_c is not None:
                self.last_skin_s = t
            assert t - self.last_skin_s <= SKIN_GAP_S + 3 * period + EPS, (
                "sprayed on without a skin reading"
            )
        assert t - read <= 2 * self.rig.period_s + EPS, "open with no recent answer"
        assert t - st.read_at_s <= 2 * self.rig.period_s + EPS, "open on stale data"
        assert self.held and st.trigger, "open without the trigger held"
        assert st.nozzle == p.device.nozzle, "wrong nozzle sprays"
        assert not st.estop_latched and st.fault_bits == 0, "open with e-stop or fault"
        for name, (low, high) in _SENSOR_RANGES.items():
            value = getattr(st, name)
            assert value is None or low <= value <= high, f"open on implausible {name} {value}"
        assert st.o2_pct is not None and st.o2_pct >= O2_LOW_PCT, "open with low oxygen"
        device = p.device
        if isinstance(device, CjAirDevice) and st.skin_temp_c is not None:
            assert st.skin_temp_c > device.skin_stop_c, "open with the skin at its stop limit"
