"""The safety supervisor: a second, independent opinion on every valve command.

Every cycle it gets the latest status, the valve command about to go out and an
immutable :class:`SupervisorContext` (the profile's limits and where the session
is: limits and selection, never the machine's counters). It answers
:class:`Verdict` ``force_close`` whenever opening now would break an invariant of
DESIGN.md, whatever state the treatment machine is in. It keeps its own small
bookkeeping from what it observes (continuous-open time, totals per site, rest
and re-press, session time, cryogen, skin lock-outs, and sessions an e-stop, a fault,
oxygen below 18 % or a lost link ended, which never spray again) and shares no mutable state
with the machine, so it holds when the machine is wrong. It deliberately does not
use the machine's rule functions either.

Where the two could disagree by timing it is the more lenient one (rest counted
from the close rather than from the release, session time counted from the first
check it sees), so a correct machine never gets overruled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from cryoctl.core.port import DeviceEvent, EventKind, Status

__all__ = ["SafetySupervisor", "SupervisorContext", "Verdict"]

_O2_LOW_PCT = 19.5
#: Oxygen below this is a latched fault: the session is over.
_O2_FAULT_PCT = 18.0
_STALE_PERIODS = 2
#: Telemetry (O2, skin, nozzle, faults) may be this old, or STALE_PERIODS if longer.
_TELEMETRY_MAX_AGE_S = 0.3
#: The unit's heartbeat echo may lag the host's heartbeats this long (CJ-Air).
_ECHO_MAX_AGE_S = 0.5
#: No new status for longer than this many periods: the link is lost.
_LOST_PERIODS = 3
_SKIN_GAP_S = 1.0
#: An N2 tip between these that holds its value this long while open is frozen.
_FROZEN_TIP_S = 1.0
_FROZEN_TIP_BAND_C = (-190.0, 15.0)
_EPS = 1e-6
#: Readings no working sensor gives: the data is broken, so nothing may open on it.
#: (Kept here on purpose, apart from the machine's own table: a second opinion.)
_SENSOR_RANGES = (
    ("o2_pct", 0.0, 100.0),
    ("skin_temp_c", -60.0, 60.0),
    ("tip_temp_c", -200.0, 60.0),
    ("pressure_kpa", -10.0, 250.0),
)


@dataclass(frozen=True, slots=True)
class SupervisorContext:
    """Limits in force now. Built fresh each cycle from the profile and the selection."""

    session_id: int
    #: (zone index, site index)
    site: tuple[int, int]
    nozzle: str
    max_dwell_s: float
    max_total_s: float
    passes: int
    rest_s: float
    max_session_s: float
    max_cryogen_g: float | None
    flow_g_s: float
    skin_stop_c: float | None
    skin_warn_c: float | None
    paused: bool
    host_estop: bool
    #: A session whose link was gone longer than this is over (it never sprays again).
    link_grace_s: float = 10.0


class Verdict(NamedTuple):
    force_close: bool
    reasons: tuple[str, ...] = ()


#: The usual answer, built once (the loop asks 50 times a second).
_NO_OBJECTION = Verdict(False)


class SafetySupervisor:
    """Checks each proposed valve command against its own observations."""

    def __init__(self, *, control_period_s: float = 0.02) -> None:
        if not (math.isfinite(control_period_s) and control_period_s > 0):
            raise ValueError("control_period_s must be finite and > 0")
        self._period_s = control_period_s
        self._session_id: int | None = None
        self._last_check_s: float | None = None
        self._last_paused = True
        self._session_s = 0.0
        self._cryogen_g = 0.0
        self._open_since_s: float | None = None
        self._open_flow_g_s = 0.0
        self._open_site: tuple[int, int] = (0, 0)
        self._site_open_s: dict[tuple[int, int], float] = {}
        self._site_opens: dict[tuple[int, int], int] = {}
        self._site_closed_at_s: dict[tuple[int, int], float] = {}
        self._trigger_down = False
        self._trigger_at_s = -math.inf
        self._need_release = False
        self._estop_event_at_s = -math.inf
        self._status_at_s = -math.inf
        #: When the last new status arrived (host time), and that status: a lagging
        #: read stamped earlier than the one before is still an answer.
        self._answer_at_s: float | None = None
        self._answer: Status | None = None
        #: A session an e-stop, a fault or a lost link ended, and why: it never sprays again.
        self._halted: tuple[int, str] | None = None
        self._skin_locked: set[int] = set()
        self._skin_missing_since_s: float | None = None
        self._tip: tuple[float, float] | None = None  # (value, since)
        #: Forced closes so far (a correct machine never needs one).
        self.interventions = 0

    def on_event(self, event: DeviceEvent) -> None:
        if event.kind is EventKind.TRIGGER:
            self._see_trigger(bool(event.value), event.at_s)
        elif event.kind is EventKind.ESTOP and event.value:
            self._estop_event_at_s = max(self._estop_event_at_s, event.at_s)

    def _see_trigger(self, down: bool, at_s: float, *, event: bool = True) -> None:
        # A status only overrides an event it was read after.
        if at_s > self._trigger_at_s or (event and at_s == self._trigger_at_s):
            self._trigger_at_s = at_s
            self._trigger_down = down
            if not down:
                self._need_release = False

    def _observe(self, now: float, status: Status | None, ctx: SupervisorContext | None) -> None:
        last = self._last_check_s
        if last is not None and now > last:
            if self._open_since_s is not None:
                site = self._open_site
                self._site_open_s[site] = self._site_open_s.get(site, 0.0) + (now - last)
                self._cryogen_g += (now - last) * self._open_flow_g_s
            same = ctx is not None and ctx.session_id == self._session_id
            # The interval since the last check was spent in that check's pause state.
            if same and not self._last_paused:
                self._session_s += now - last
        if ctx is not None and ctx.session_id != self._session_id:
            self._session_id = ctx.session_id
            self._session_s = self._cryogen_g = 0.0
            self._site_open_s.clear()
            self._site_opens.clear()
            self._site_closed_at_s.clear()
            self._skin_locked.clear()
        self._last_check_s = now
        self._last_paused = True if ctx is None else ctx.paused
        if status is not None and status is not self._answer:
            self._answer, self._answer_at_s = status, now
        if status is not None and status.read_at_s > self._status_at_s:
            self._status_at_s = status.read_at_s
            self._see_trigger(status.trigger, status.read_at_s, event=False)
            tip = status.tip_temp_c
            if tip is not None and (self._tip is None or self._tip[0] != tip):
                self._tip = (tip, now)
        if ctx is not None and (self._halted is None or self._halted[0] != ctx.session_id):
            cause = self._halt_cause(now, status, ctx)
            if cause is not None:
                self._halted = (ctx.session_id, cause)
        if status is None:
            return
        # Every check, not only on new data: a move to another zone with the skin
        # still at its stop limit locks that zone too.
        if ctx is not None and ctx.skin_stop_c is not None and ctx.skin_warn_c is not None:
            skin = status.skin_temp_c
            if skin is not None and skin <= ctx.skin_stop_c:
                self._skin_locked.add(ctx.site[0])
            elif skin is not None and skin >= ctx.skin_warn_c:
                self._skin_locked.discard(ctx.site[0])

    def _halt_cause(self, now: float, st: Status | None, ctx: SupervisorContext) -> str | None:
        """What ends a session for good: a new start is a new, deliberate act."""
        if ctx.host_estop:
            return "host e-stop"
        # A status read no later than the e-stop event cannot show it yet.
        if st is not None and (st.estop_latched or st.read_at_s <= self._estop_event_at_s):
            return "unit e-stop"
        if st is not None and st.fault_bits:
            return "unit fault"
        if st is not None and st.o2_pct is not None and st.o2_pct < _O2_FAULT_PCT:
            return "oxygen below 18 %"
        answer = self._answer_at_s
        # A link gone longer than the grace time ends the session. (A shorter outage
        # closed the valve: the close already asks for a new press.)
        if answer is not None and now - answer > max(_LOST_PERIODS * self._period_s,
                                                     ctx.link_grace_s):
            return "no answer from the unit"
        return None

    def _status_reasons(self, now: float, st: Status | None, ctx: SupervisorContext) -> list[str]:
        if st is None:
            return ["no status from the unit"]
        out: list[str] = []
        stale_s = _STALE_PERIODS * self._period_s
        if now - st.read_at_s > stale_s + _EPS:
            out.append("stale status")
        if now - st.telemetry_at_s > max(_TELEMETRY_MAX_AGE_S, stale_s) + _EPS:
            out.append("stale readings")
        if st.echo_at_s is not None and now - st.echo_at_s > max(_ECHO_MAX_AGE_S, stale_s) + _EPS:
            out.append("heartbeat echo behind")
        if st.o2_pct is None or not st.o2_pct >= _O2_LOW_PCT:
            out.append("oxygen low or unknown")
        if st.nozzle != ctx.nozzle:
            out.append(f"nozzle {st.nozzle!r} is not {ctx.nozzle!r}")
        if not self._trigger_down:
            out.append("trigger not held")
        for name, low, high in _SENSOR_RANGES:
            value = getattr(st, name)
            if value is not None and not low <= value <= high:  # NaN fails both tests
                out.append(f"implausible {name}")
        tip = self._tip
        if self._open_since_s is not None and tip is not None:
            low, high = _FROZEN_TIP_BAND_C
            since_s = max(tip[1], self._open_since_s)
            if low < tip[0] < high and now - since_s > _FROZEN_TIP_S + self._period_s:
                out.append("tip reading frozen")
        if ctx.skin_stop_c is not None and self._open_since_s is not None:
            if st.skin_temp_c is None:
                since = self._skin_missing_since_s
                self._skin_missing_since_s = since = now if since is None else since
                if now - since > _SKIN_GAP_S + self._period_s:
                    out.append("no skin reading")
            else:
                self._skin_missing_since_s = None
        return out

    def _limit_reasons(self, now: float, ctx: SupervisorContext) -> list[str]:
        out: list[str] = []
        site = ctx.site
        if self._halted is not None and self._halted[0] == ctx.session_id:
            out.append(f"session halted: {self._halted[1]}")
        if ctx.paused:
            out.append("session paused")
        if self._open_since_s is None:
            if self._need_release:
                out.append("trigger not released since the last close")
            if now < self._site_closed_at_s.get(site, -math.inf) + ctx.rest_s - _EPS:
                out.append("zone rest not over")
            if self._site_opens.get(site, 0) >= ctx.passes:
                out.append("passes used up")
            # A new open needs time left: even the shortest spray would overrun.
            if self._site_open_s.get(site, 0.0) >= ctx.max_total_s - _EPS:
                out.append("zone total used up")
            if self._session_s >= ctx.max_session_s - _EPS:
                out.append("session time used up")
            # (the same microsecond of spray the machine allows, in grams)
            spare_g = _EPS * ctx.flow_g_s
            if ctx.max_cryogen_g is not None and self._cryogen_g >= ctx.max_cryogen_g - spare_g:
                out.append("cryogen used up")
        elif now - self._open_since_s > ctx.max_dwell_s + _EPS:
            out.append("dwell limit")
        if site[0] in self._skin_locked:
            out.append("skin stop in this zone")
        if self._site_open_s.get(site, 0.0) > ctx.max_total_s + _EPS:
            out.append("zone total")
        if self._session_s > ctx.max_session_s + _EPS:
            out.append("session time")
        if ctx.max_cryogen_g is not None and self._cryogen_g > ctx.max_cryogen_g + _EPS:
            out.append("cryogen budget")
        return out

    def check(
        self,
        now: float,
        status: Status | None,
        proposed_open: bool,
        context: SupervisorContext | None,
    ) -> Verdict:
        """Judge the command about to go out; remember what was finally commanded."""
        self._observe(now, status, context)
        reasons: list[str] = []
        if proposed_open:
            if context is None:
                reasons.append("no session")
            else:
                reasons += self._status_reasons(now, status, context)
                reasons += self._limit_reasons(now, context)
        force = proposed_open and bool(reasons)
        final_open = proposed_open and not force
        if final_open and self._open_since_s is None and context is not None:
            self._open_since_s = now
            self._open_site = context.site
            self._open_flow_g_s = context.flow_g_s
            self._site_opens[context.site] = self._site_opens.get(context.site, 0) + 1
            self._skin_missing_since_s = None
        elif not final_open and self._open_since_s is not None:
            self._open_since_s = None
            self._site_closed_at_s[self._open_site] = now
            self._need_release = self._trigger_down
        if force:
            self.interventions += 1
        return Verdict(True, tuple(reasons)) if force else _NO_OBJECTION
