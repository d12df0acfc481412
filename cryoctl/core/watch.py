"""What every fresh status is checked for: hazards, the skin, and the valve's effect.

- e-stop latch seen: e-stop; unit fault bits: fault; oxygen below 18 %: fault;
  below 19.5 % (or no reading): close and a latching alarm;
- an implausible reading or a wrong nozzle: close and an alarm;
- CJ-Air skin: one airflow level down on crossing ``skin_reduce_c``, a warning below
  ``skin_warn_c``, a close and a zone lock-out at ``skin_stop_c`` until the skin is
  back above ``skin_warn_c``; no reading for more than 1 s while spraying: close;
- effect checks: valve feedback that does not follow within 100 ms (close), an N2 tip
  not below -100 degC 2 s into a spray (no flow: close), a tip not warming 5 s after
  a close (valve stuck open: e-stop);
- frozen readings: an N2 tip that holds its value to the last digit for over 1 s
  while it must move (in a spray, or cooling or warming after a close, away from the
  LN2 floor and the room) is a frozen link or sensor: close and a high alarm. (The
  CJ-Air's readings are proven live by its heartbeat echo instead, in the rules'
  freshness test.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryoctl.core import rules
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.machine import ESTOP, FAULT, SESSION_PHASES, SPRAYING
from cryoctl.core.port import Status
from cryoctl.profile import CjAirDevice

if TYPE_CHECKING:
    from cryoctl.core.treatment import Treatment

__all__ = ["StatusWatch"]

#: Feedback still open this long after a close is a valve stuck open.
_STUCK_FEEDBACK_S = rules.STUCK_CHECK_AFTER_S


def _clear(alarms: AlarmManager, code: AlarmCode, now: float) -> None:
    if alarms.is_active(code):
        alarms.clear_condition(code, now)


class StatusWatch:
    """Per-status checks of one treatment core; keeps only what crossing checks need."""

    def __init__(self, core: Treatment) -> None:
        self._core = core
        self._skin_missing_since_s: float | None = None
        self._skin_band = "ok"
        self._mismatch_since_s: float | None = None
        self._tip_at_close_c: float | None = None
        self._tip_seen_c: float | None = None
        self._tip_changed_at_s = 0.0

    def spray_started(self, now: float) -> None:
        self._skin_missing_since_s = None
        self._tip_at_close_c = None

    def spray_ended(self, now: float) -> None:
        self._tip_at_close_c = None

    def on_status(self, st: Status, now: float, *, was_spraying: bool) -> None:
        core = self._core
        alarms = core.alarms
        if rules.fresh(st, now, core.period_s) is None:
            _clear(alarms, AlarmCode.STALE_DATA, now)
        if st.estop_latched and core.phase is not ESTOP:
            core.enter_estop("unit e-stop", now)
        elif st.estop_latched and core.phase is ESTOP:
            core.refuse_estop_reset(st.read_at_s, "unit e-stop still latched")
        if st.faulted:
            core.enter_fault(AlarmCode.UNIT_FAULT, f"fault bits {st.fault_bits:#06x}", now)
        if rules.oxygen_fault(st):
            core.enter_fault(AlarmCode.O2_FAULT, f"oxygen {st.o2_pct} %", now)
        self._hazards(st, now)
        self._frozen(st, now)
        self._effects(st, now, was_spraying=was_spraying)
        self._skin(st, now)

    def _hazards(self, st: Status, now: float) -> None:
        core, alarms = self._core, self._core.alarms
        low = rules.oxygen(st)
        if low is not None:
            alarms.raise_alarm(AlarmCode.O2_LOW, now, low)
            core.close(now, low, None)
        else:
            _clear(alarms, AlarmCode.O2_LOW, now)
        odd = rules.implausible(st)
        if odd is not None:
            alarms.raise_alarm(AlarmCode.UNIT_FAULT, now, odd)
            core.close(now, odd, None)
        elif not st.faulted and core.phase is not FAULT:
            _clear(alarms, AlarmCode.UNIT_FAULT, now)
        loaded = core.loaded
        if loaded is not None and core.phase in SESSION_PHASES:
            wrong = rules.nozzle_matches(loaded.profile, st)
            if wrong is not None:
                alarms.raise_alarm(AlarmCode.NOZZLE_MISMATCH, now, wrong)
                core.close(now, wrong, None)
            else:
                _clear(alarms, AlarmCode.NOZZLE_MISMATCH, now)

    def _frozen(self, st: Status, now: float) -> None:
        core, tip = self._core, st.tip_temp_c
        if tip is None:
            return
        if tip != self._tip_seen_c:
            self._tip_seen_c, self._tip_changed_at_s = tip, now
            _clear(core.alarms, AlarmCode.READINGS_FROZEN, now)
            return
        low, high = rules.FROZEN_TIP_BAND_C
        closed = core.closed_at_s
        moving = core.phase is SPRAYING or (
            closed is not None and now - closed < rules.STUCK_CHECK_AFTER_S
        )
        if moving and low < tip < high and now - self._tip_changed_at_s > rules.FROZEN_AFTER_S:
            detail = f"tip {tip:.1f} degC for {now - self._tip_changed_at_s:.1f} s"
            core.alarms.raise_alarm(AlarmCode.READINGS_FROZEN, now, detail)
            core.close(now, "the unit's readings stopped changing", None)

    def _effects(self, st: Status, now: float, *, was_spraying: bool) -> None:
        core, alarms = self._core, self._core.alarms
        if st.valve_feedback is not None:
            if st.valve_feedback != was_spraying:
                since = self._mismatch_since_s
                self._mismatch_since_s = since = now if since is None else since
                if now - since > rules.FEEDBACK_LAG_S:
                    alarms.raise_alarm(AlarmCode.VALVE_MISMATCH, now, "feedback differs")
                    core.close(now, "valve feedback differs from command", None)
                closed = core.closed_at_s
                if st.valve_feedback and closed is not None and now - closed >= _STUCK_FEEDBACK_S:
                    self._stuck(now, "feedback still open")
            else:
                self._mismatch_since_s = None
                _clear(alarms, AlarmCode.VALVE_MISMATCH, now)
        tip = st.tip_temp_c
        if tip is None:
            return
        started = core.spray_since_s
        if (
            core.phase is SPRAYING
            and started is not None
            and now - started >= rules.NO_FLOW_AFTER_S
            and tip >= rules.NO_FLOW_TIP_C
        ):
            alarms.raise_alarm(AlarmCode.NO_FLOW, now, f"tip {tip:.1f} degC")
            core.close(now, "no flow", None)
        closed = core.closed_at_s
        if core.phase is SPRAYING or closed is None:
            return
        if self._tip_at_close_c is None:
            self._tip_at_close_c = tip
        elif core.alarms.condition_present(AlarmCode.READINGS_FROZEN):
            return  # a frozen reading says nothing of the valve
        elif (
            now - closed >= rules.STUCK_CHECK_AFTER_S
            and tip < rules.STUCK_COLD_TIP_C
            and tip <= self._tip_at_close_c + rules.STUCK_MIN_RISE_C
        ):
            self._stuck(now, f"tip {tip:.1f} degC {now - closed:.1f} s after the close")

    def _stuck(self, now: float, detail: str) -> None:
        self._core.alarms.raise_alarm(AlarmCode.VALVE_STUCK_OPEN, now, detail)
        self._core.closed_at_s = None
        if self._core.phase is not ESTOP:
            # The core's own e-stop: latched like one from the panel, so the
            # supervisor sees it too (a host e-stop in its context).
            self._core.host_estop = self._core.host_estop or "valve stuck open"
            self._core.enter_estop("valve stuck open", now)

    def _skin(self, st: Status, now: float) -> None:
        core, alarms, session = self._core, self._core.alarms, self._core.session
        device = core.loaded.profile.device if core.loaded is not None else None
        if not isinstance(device, CjAirDevice) or not core.caps.has_skin_sensor:
            return
        skin = st.skin_temp_c
        if skin is None:
            if core.phase is not SPRAYING:
                return
            since = self._skin_missing_since_s
            self._skin_missing_since_s = since = now if since is None else since
            if now - since > rules.SKIN_NO_READING_S:
                alarms.raise_alarm(AlarmCode.SKIN_NO_READING, now, "no skin reading")
                core.close(now, "no skin reading", None)
            return
        self._skin_missing_since_s = None
        _clear(alarms, AlarmCode.SKIN_NO_READING, now)
        band, before = rules.skin_band(device, skin), self._skin_band
        self._skin_band = band
        if band == "stop":
            alarms.raise_alarm(AlarmCode.SKIN_STOP, now, f"skin {skin:.1f} degC")
            if session is not None:
                session.skin_locked_zones.add(session.zone)
            core.close(now, "skin at its stop limit", None)
        if band in ("stop", "warn"):
            alarms.raise_alarm(AlarmCode.SKIN_WARN, now, f"skin {skin:.1f} degC")
        else:
            _clear(alarms, AlarmCode.SKIN_WARN, now)
            _clear(alarms, AlarmCode.SKIN_STOP, now)
            if session is not None:
                session.skin_locked_zones.discard(session.zone)
        level = core.airflow_level
        if band != "ok" and before == "ok" and level is not None and core.phase is SPRAYING:
            core.airflow_level = max(1, level - 1)
