"""The treatment core: the machine, the session and its ledger, and the rules.

Pure: no I/O and no clock. Every entry point takes ``now`` (monotonic seconds)
and returns :class:`Commands`, what the unit should be told. The asyncio shell
(:mod:`cryoctl.control.controller`) feeds it statuses, read errors and unit events, and
sleeps to ``Commands.next_deadline_s`` so a dwell cut-off closes at its exact
deadline, not at the next tick. Status-driven watches (hazards, skin, effect
checks) live in :mod:`cryoctl.core.watch`.
"""

from __future__ import annotations

from cryoctl.core import rules
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.commands import Commands, settings_for
from cryoctl.core.ledger import DoseLedger
from cryoctl.core.machine import (
    ARMED,
    DISCONNECTED,
    ESTOP,
    FAULT,
    RESTING,
    SELFTEST,
    SPRAYING,
    STARTING,
)
from cryoctl.core.port import Capabilities, DeviceEvent, EventKind, Status
from cryoctl.core.session import Outcome, Session, SprayMark
from cryoctl.core.treatment_state import TreatmentState
from cryoctl.core.watch import StatusWatch
from cryoctl.errors import MachineRefused
from cryoctl.profile import CjAirDevice, LoadedProfile

__all__ = ["Commands", "Treatment", "settings_for"]

_CUTOFF_ALARMS = {
    "dwell": AlarmCode.DWELL_CUTOFF,
    "zone": AlarmCode.ZONE_CAP,
    "session": AlarmCode.SESSION_TIME_CAP,
    "cryogen": AlarmCode.CRYOGEN_CAP,
}


class Treatment(TreatmentState):
    """Owns the machine, the session and its ledger; every entry point returns Commands."""

    def __init__(
        self,
        capabilities: Capabilities,
        alarms: AlarmManager,
        *,
        control_period_s: float = 0.02,
        link_grace_s: float = rules.LINK_GRACE_S,
    ) -> None:
        super().__init__(
            capabilities, alarms, control_period_s=control_period_s, link_grace_s=link_grace_s
        )
        self._watch = StatusWatch(self)

    def on_connected(self, now: float) -> Commands:
        self._now = now
        self._last_answer_s = now
        self._unanswered = False
        if self.link_lost_at_s is not None:
            self.last_outage_s = now - self.link_lost_at_s
            self.link_lost_at_s = None
        for trigger in ("connected", "link_back"):
            if self.machine.allows(trigger):
                self.machine.fire(trigger)
        return self.commands()

    def on_selftest(self, *, protection_ok: bool, now: float, detail: str = "") -> Commands:
        self._now = now
        self._protection_ok = protection_ok
        if protection_ok:
            self.alarms.clear_condition(AlarmCode.CONFIG_MISMATCH, now)
            self.machine.fire("selftest_passed")
        else:
            self.alarms.raise_alarm(AlarmCode.CONFIG_MISMATCH, now, detail)
            self.machine.fire("selftest_failed")
            self._end_session(now, Outcome.FAULT, f"protection did not read back: {detail}")
        return self.commands()

    def on_open_cap(self, read_back_ms: int, now: float) -> Commands:
        """The unit read back its own cap on one opening (CJ-Air MAX_OPEN_MS)."""
        self._now = now
        self.open_cap_confirmed_ms = read_back_ms
        if read_back_ms == self.open_cap_wanted_ms():
            self.alarms.clear_condition(AlarmCode.CONFIG_MISMATCH, now)
        return self._update(now)

    def on_open_cap_failed(self, detail: str, now: float) -> Commands:
        """Writing the open cap failed or read back wrong: no spray until it is confirmed."""
        self._now = now
        self._unanswered = True
        self.open_cap_confirmed_ms = None
        self.alarms.raise_alarm(AlarmCode.CONFIG_MISMATCH, now, detail)
        return self._update(now)

    def load(self, loaded: LoadedProfile, now: float) -> Commands:
        """Choose a profile; its set-points must be applied before it is used."""
        self._now = now
        if not self.machine.allows("load_profile"):
            raise MachineRefused(f"cannot load a profile in {self.phase}")
        problem = rules.profile_fits(loaded.profile, self.caps)
        if problem:
            raise MachineRefused(problem)
        self.loaded, self._settings_ok = loaded, False
        device = loaded.profile.device
        self.airflow_level = device.airflow_level if isinstance(device, CjAirDevice) else None
        return Commands(valve_open=False, settings=settings_for(loaded))

    def settings_applied(self, sha256: str, now: float) -> Commands:
        self._now = now
        if self.loaded is None or self.loaded.sha256 != sha256:
            raise MachineRefused("set-points applied for a profile that is not loaded")
        self._settings_ok = True
        self.machine.fire("load_profile")
        return self.commands()

    # -- staff ---------------------------------------------------------------------

    def start_session(self, now: float) -> Commands:
        self._update(now)
        if self.loaded is None or not self.machine.fire("start"):
            raise MachineRefused("no applied profile that fits the unit")
        self._sessions_started += 1
        flow = rules.cryogen_flow_g_s(self.loaded.profile, self.caps)
        self.session = Session(
            session_id=self._sessions_started,
            loaded=self.loaded,
            started_at_s=now,
            ledger=DoseLedger(zone_count=len(self.loaded.profile.zones), flow_g_s=flow),
        )
        self._lock_zone_if_skin_cold(self.session)
        self._press_edge = False
        return self._update(now)

    def pause(self, now: float) -> Commands:
        self._update(now)
        self._leave_spraying(now, "pause")
        self.machine.fire("pause")
        assert self.session is not None
        self.session.end_pass(now)
        self.session.paused_since_s = now
        return self._update(now)

    def resume(self, now: float) -> Commands:
        self._update(now)
        self.machine.fire("resume")
        s = self.session
        assert s is not None and s.paused_since_s is not None
        s.paused_s += now - s.paused_since_s
        s.paused_since_s = None
        self._press_edge = False
        return self._update(now)

    def next_site(self, now: float) -> Commands:
        return self._move(now, "next_site")

    def next_zone(self, now: float) -> Commands:
        return self._move(now, "next_zone")

    def _move(self, now: float, trigger: str) -> Commands:
        self._update(now)
        s = self.session
        if s is None or not self.machine.fire(trigger):
            raise MachineRefused(f"{trigger}: no further {trigger.removeprefix('next_')}")
        s.end_pass(now)
        if trigger == "next_zone":
            s.move_to(s.zone + 1, 0)
        else:
            s.move_to(s.zone, s.site + 1)
        device = s.loaded.profile.device
        if isinstance(device, CjAirDevice):
            self.airflow_level = device.airflow_level
        self._lock_zone_if_skin_cold(s)
        self.alarms.clear_condition(AlarmCode.ZONE_CAP, now)
        self._press_edge = False
        return self._update(now)

    def _lock_zone_if_skin_cold(self, s: Session) -> None:
        """A zone begun with the skin under the nozzle at its stop limit starts locked."""
        device = s.loaded.profile.device
        skin = self.status.skin_temp_c if self.status is not None else None
        if (
            skin is not None
            and isinstance(device, CjAirDevice)
            and rules.skin_band(device, skin) == "stop"
        ):
            s.skin_locked_zones.add(s.zone)

    def finish(self, now: float) -> Commands:
        """Staff end the session: completed on the last zone, stopped before it."""
        self._update(now)
        self._leave_spraying(now, "staff ended the session")
        self.machine.fire("finish")
        s = self.session
        assert s is not None
        last = s.zone + 1 == len(s.loaded.profile.zones)
        self._end_session(now, Outcome.COMPLETED if last else Outcome.STOPPED, "staff")
        return self._update(now)

    def dismiss(self, now: float) -> Commands:
        self.machine.fire("dismiss")
        return self._update(now)

    def estop(self, source: str, now: float) -> Commands:
        """E-stop from any source: the shell has already sent the close."""
        self._now = now
        self.host_estop = self.host_estop or source
        self.enter_estop(source, now)
        return self._update(now)

    def request_estop_reset(self, now: float) -> Commands:
        if self.phase is not ESTOP:
            raise MachineRefused(f"no e-stop to reset in {self.phase}")
        self._reset_estop_asked = True
        self._reset_asked_at_s = now
        return Commands(valve_open=False, reset_estop=True)

    def refuse_estop_reset(self, read_at_s: float, reason: str) -> None:
        """The unit's latch is still set: a reset needs a new, deliberate request."""
        if self._reset_estop_asked and read_at_s > self._reset_asked_at_s:
            self._reset_estop_asked = False
            self.refusals = (reason,)

    def request_fault_reset(self, now: float) -> Commands:
        if self.phase is not FAULT:
            raise MachineRefused(f"no fault to reset in {self.phase}")
        self._reset_fault_asked = True
        self._reset_asked_at_s = now
        return Commands(valve_open=False, reset_faults=True)

    def pause_audio(self, now: float) -> Commands:
        self.alarms.pause_audio(now)
        return self._update(now)

    def on_write_error(self, what: str, detail: str, now: float) -> None:
        """A command to the unit failed (the shell sends a close again until it is confirmed)."""
        self._unanswered = True
        code = AlarmCode.CLOSE_FAILED if what == "close" else AlarmCode.WRITE_FAILED
        self.alarms.raise_alarm(code, now, f"{what}: {detail}")

    def on_close_confirmed(self, now: float) -> None:
        """A status read after the last close shows the valve closed."""
        if self.alarms.condition_present(AlarmCode.CLOSE_FAILED):
            self.alarms.clear_condition(AlarmCode.CLOSE_FAILED, now)

    def on_uncommanded_open(self, detail: str, now: float) -> None:
        """The unit reports the valve open, and the host did not open it: the shell closes."""
        self.alarms.raise_alarm(AlarmCode.VALVE_OPEN_UNCOMMANDED, now, detail)
        self.close(now, detail, None)

    def on_loop_timing(self, late_s: float, now: float) -> None:
        """How late the tick was; later than a period stops heartbeats and lease renewals."""
        if late_s > self.period_s:
            self.alarms.raise_alarm(AlarmCode.LOOP_LATE, now, f"tick {late_s * 1000:.0f} ms late")
        elif self.alarms.condition_present(AlarmCode.LOOP_LATE):
            self.alarms.clear_condition(AlarmCode.LOOP_LATE, now)

    def acknowledge_alarms(self, now: float, *, up_to_seq: int | None = None) -> Commands:
        self.alarms.acknowledge(now, up_to_seq=up_to_seq)
        return self._update(now)

    # -- the unit -------------------------------------------------------------------

    def on_status(self, status: Status, now: float) -> Commands:
        was_spraying = self.phase is SPRAYING
        self._accrue(now)
        self.status = status
        self._last_answer_s = now
        self._unanswered = False
        self._now = now
        if status.read_at_s > self._trigger_at_s:
            self._see_trigger(status.trigger, status.read_at_s, now)
        self._watch.on_status(status, now, was_spraying=was_spraying)
        return self._update(now)

    def on_read_error(self, now: float, *, detail: str = "read error") -> Commands:
        self._now = now
        self._unanswered = True
        if self.phase is SPRAYING:
            self.close(now, detail, AlarmCode.STALE_DATA)
        return self._update(now)

    def on_event(self, event: DeviceEvent, now: float) -> Commands:
        self._now = now
        if event.kind is EventKind.TRIGGER:
            self._trigger_event_at_s = max(self._trigger_event_at_s, event.at_s)
            self._see_trigger(bool(event.value), event.at_s, now)
        elif event.kind is EventKind.ESTOP and event.value:
            self.enter_estop("unit e-stop", now)
        elif event.kind is EventKind.LEASE_EXPIRED and self.phase is SPRAYING:
            self.close(now, "lease ran out", AlarmCode.STALE_DATA)
        return self._update(now)

    def tick(self, now: float) -> Commands:
        return self._update(now)

    def on_forced_close(self, now: float, reasons: tuple[str, ...]) -> Commands:
        """The safety supervisor closed the valve; the machine follows."""
        self._now = now
        if self.phase is SPRAYING:
            self.close(now, "supervisor: " + "; ".join(reasons), None)
        return self.commands()

    # -- inside -----------------------------------------------------------------------

    def _see_trigger(self, down: bool, at_s: float, now: float) -> None:
        self._trigger_at_s = max(self._trigger_at_s, at_s)
        if down and not self._trigger_down:
            self._press_edge = True
        elif not down and self._trigger_down:
            self._press_edge = False
            self._released(now)
        self._trigger_down = down

    def _released(self, now: float) -> None:
        s = self.session
        if self.phase is SPRAYING:
            self._leave_spraying(now, "release")
        if s is not None and self.machine.allows("release") and self.machine.fire("release"):
            s.end_pass(now)

    def _accrue(self, now: float) -> None:
        s = self.session
        if self.phase is SPRAYING and s is not None and now > self._accrued_to_s:
            s.ledger.add_open(s.key, now - self._accrued_to_s)
            self._accrued_to_s = now

    def _leave_spraying(self, now: float, ended_by: str) -> None:
        """Book the open time and forget the spray; the caller fires the transition."""
        if self.phase is SPRAYING:
            self._accrue(now)
            s = self.session
            if s is not None:
                self.spray_log.append(SprayMark(s.session_id, s.zone, s.site, now, False,
                                                ended_by))
            self.spray_since_s = None
            self._deadline_s = None
            self.closed_at_s = now
            self._watch.spray_ended(now)

    def close(self, now: float, reason: str, alarm: AlarmCode | None) -> None:
        """Close with the trigger still held: the pass stays open until it is released."""
        if alarm is not None:
            self.alarms.raise_alarm(alarm, now, reason)
        if self.phase is SPRAYING:
            self._leave_spraying(now, reason)
            self.machine.fire("close")

    def enter_estop(self, source: str, now: float) -> None:
        self._leave_spraying(now, f"e-stop ({source})")
        self.alarms.raise_alarm(AlarmCode.ESTOP, now, source)
        self._reset_estop_asked = False
        self.machine.fire("estop")
        self._end_session(now, Outcome.ESTOP, source)

    def enter_fault(self, code: AlarmCode, detail: str, now: float) -> None:
        self.alarms.raise_alarm(code, now, detail)
        if self.phase in (ESTOP, FAULT, STARTING, SELFTEST):
            return
        self._leave_spraying(now, f"fault: {detail}")
        self._reset_fault_asked = False
        self.machine.fire("fault")
        self._end_session(now, Outcome.FAULT, detail)

    def _end_session(self, now: float, outcome: Outcome, reason: str) -> None:
        if self.session is not None:
            self.records.append(self.session.record(outcome, reason, now))
            self.session = None
            for code in (AlarmCode.DWELL_CUTOFF, AlarmCode.ZONE_CAP, AlarmCode.SESSION_TIME_CAP,
                         AlarmCode.CRYOGEN_CAP):
                self.alarms.clear_condition(code, now)

    def _update(self, now: float) -> Commands:
        self._now = now
        self._accrue(now)
        phase = self.phase
        # Lost: a request failed (a read, a write, a close) and the unit has been silent
        # for LOST_PERIODS.
        # Silence alone is not enough: a host that stalled (a GC pause, a starved CPU)
        # asked nothing, and an event or a staff command handled before its next read
        # must not take the stall for the unit's.
        if (
            self._unanswered
            and self._last_answer_s is not None
            and now - self._last_answer_s > rules.LOST_PERIODS * self.period_s
            and self.machine.allows("link_lost")
            and phase is not DISCONNECTED
        ):
            self._lose_link(now)
        kept = self.session
        lost_at = self.link_lost_at_s
        if (
            kept is not None
            and lost_at is not None
            and self.phase is DISCONNECTED
            and now - lost_at > self.link_grace_s
        ):
            self._end_session(
                now, Outcome.INTERRUPTED, f"communication lost for over {self.link_grace_s:g} s"
            )
        if self.phase is ESTOP and self._reset_estop_asked and self.machine.fire(
            "reset_estop"
        ):
            self.host_estop = None
            self._reset_estop_asked = False
            self.alarms.clear_condition(AlarmCode.ESTOP, now)
        if self.phase is FAULT and self._reset_fault_asked and self.machine.fire(
            "reset_fault"
        ):
            self._reset_fault_asked = False
            for code in (AlarmCode.UNIT_FAULT, AlarmCode.O2_FAULT):
                self.alarms.clear_condition(code, now)
        self._watch_spraying(now)
        # Asked here first only to spare the table a trigger every cycle of a rest.
        if self.phase is RESTING and self.rest_elapsed():
            self.machine.fire("rest_over")
        # A press seen as an event waits for a status that shows it, so the
        # machine and the supervisor judge the same data.
        st = self.status
        held = st is not None and st.trigger and st.read_at_s > self._trigger_event_at_s
        if self.phase is ARMED and self._press_edge and held:
            self._press_edge = False
            if self.machine.fire("spray"):
                self._begin_spray(now)
        self._press_edge = self._press_edge and self.phase is ARMED
        return self.commands()

    def _lose_link(self, now: float) -> None:
        """The valve is closed by the shell; a running session is held, its clock stopped."""
        self._leave_spraying(now, "communication lost")
        self.alarms.raise_alarm(AlarmCode.COMM_LOST, now, "no answer from the unit")
        self.link_lost_at_s = now
        s = self.session
        if s is not None:
            s.end_pass(now)
            if s.paused_since_s is None:
                s.paused_since_s = now
        self.machine.fire("link_lost")

    def _watch_spraying(self, now: float) -> None:
        if self.phase is not SPRAYING:
            return
        stale = rules.fresh(self.status, now, self.period_s)
        if stale is not None:
            self.close(now, stale, AlarmCode.STALE_DATA)
        elif self._deadline_s is not None and now >= self._deadline_s:
            cause = self._deadline_cause
            self.close(now, f"{cause} limit reached", _CUTOFF_ALARMS[cause])

    def _begin_spray(self, now: float) -> None:
        s = self.session
        assert s is not None
        budget_s, cause = s.budget_s(now)
        self.spray_since_s = now
        self._accrued_to_s = now
        self._deadline_s = now + budget_s
        self._deadline_cause = cause
        self.closed_at_s = None
        s.pass_open = True
        s.ledger.spray_started(s.key)
        self.spray_log.append(SprayMark(s.session_id, s.zone, s.site, now, True))
        self.alarms.clear_condition(AlarmCode.DWELL_CUTOFF, now)
        self._watch.spray_started(now)
