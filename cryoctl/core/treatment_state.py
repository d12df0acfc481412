"""The treatment core's state and the answers it gives: guards, refusals, commands.

:class:`TreatmentState` holds everything the core knows and answers the
machine's guards from it; :class:`~cryoctl.core.treatment.Treatment` adds the entry
points that change it. Split so the rules for a spray sit apart from the
bookkeeping that follows one.
"""

from __future__ import annotations

import math

from cryoctl.core import rules
from cryoctl.core.alarms import AlarmCode, AlarmManager
from cryoctl.core.commands import Commands
from cryoctl.core.machine import (
    DISCONNECTED,
    ESTOP,
    FAULT,
    PAUSED,
    SELFTEST,
    SPRAYING,
    STARTING,
    Phase,
    TreatmentMachine,
)
from cryoctl.core.port import Capabilities, Status
from cryoctl.core.session import Session, SessionRecord, SprayMark
from cryoctl.core.supervisor import SupervisorContext
from cryoctl.profile import CjAirDevice, LoadedProfile

__all__ = ["TreatmentState"]

#: Alarms that keep the valve shut until they are acknowledged and their cause has gone.
_BLOCKING_ALARMS = (
    AlarmCode.O2_LOW,
    AlarmCode.O2_FAULT,
    AlarmCode.NO_FLOW,
    AlarmCode.VALVE_STUCK_OPEN,
)


class TreatmentState:
    """Everything the core knows; answers the machine's guards and builds commands."""

    def __init__(
        self,
        capabilities: Capabilities,
        alarms: AlarmManager,
        *,
        control_period_s: float = 0.02,
        link_grace_s: float = rules.LINK_GRACE_S,
    ) -> None:
        if not (math.isfinite(control_period_s) and control_period_s > 0):
            raise ValueError("control_period_s must be finite and > 0")
        if not (math.isfinite(link_grace_s) and link_grace_s >= 0):
            raise ValueError("link_grace_s must be finite and >= 0")
        #: A session held through a lost link ends as interrupted after this long.
        self.link_grace_s = link_grace_s
        #: When the link was lost (None while it is up), and how long the last outage was.
        self.link_lost_at_s: float | None = None
        self.last_outage_s: float | None = None
        self.caps = capabilities
        self.alarms = alarms
        self.period_s = control_period_s
        #: The machine's phase, mirrored as a plain attribute (read many times a cycle).
        self.phase = STARTING
        self.machine = TreatmentMachine(self, initial=self.phase, on_phase=self._phase_entered)
        self.loaded: LoadedProfile | None = None
        self.session: Session | None = None
        self.records: list[SessionRecord] = []
        #: Every spray's start and end, in order (the publisher reports them as events).
        self.spray_log: list[SprayMark] = []
        #: Why the last press did not spray (empty when it did).
        self.refusals: tuple[str, ...] = ()
        self.status: Status | None = None
        self.host_estop: str | None = None
        self.airflow_level: int | None = None
        self.spray_since_s: float | None = None
        self.closed_at_s: float | None = None
        self._now = -math.inf
        self._settings_ok = False
        #: The unit's protection was written and read back since the last reset,
        #: e-stop, fault or lost link (each of those clears it).
        self._protection_ok = False
        #: The unit's own open cap (CJ-Air MAX_OPEN_MS) as last read back; None: unknown.
        self.open_cap_confirmed_ms: int | None = None
        self._last_answer_s: float | None = None
        #: A request failed since the unit's last answer (a read, a write, a close): the
        #: link is judged only on silence the host asked into, never on its own stall.
        self._unanswered = False
        self._trigger_down = False
        self._trigger_at_s = -math.inf
        self._trigger_event_at_s = -math.inf
        self._press_edge = False
        self._deadline_s: float | None = None
        self._deadline_cause = "dwell"
        self._accrued_to_s = 0.0
        self._reset_estop_asked = False
        self._reset_fault_asked = False
        #: A reset is judged only on data read after it was asked for.
        self._reset_asked_at_s = -math.inf
        self._sessions_started = 0
        self._context: tuple[object, SupervisorContext] | None = None
        self._commands: tuple[object, Commands] | None = None

    def _phase_entered(self, phase: Phase) -> None:
        self.phase = phase
        if phase in (ESTOP, FAULT, DISCONNECTED, SELFTEST):
            # Every way back to arming passes the protection read-back again.
            self._protection_ok = False
            self.open_cap_confirmed_ms = None

    # -- guards the machine's table names --------------------------------------

    def protection_verified(self) -> bool:
        return self._protection_ok

    def profile_fits_unit(self) -> bool:
        return (
            self.loaded is not None
            and self._settings_ok
            and rules.profile_fits(self.loaded.profile, self.caps) is None
        )

    def spray_permitted(self) -> bool:
        self.refusals = self.spray_refusals(self._now)
        return not self.refusals

    def pass_open(self) -> bool:
        return self.session is not None and self.session.pass_open

    def rest_elapsed(self) -> bool:
        return self.session is not None and self._now >= self.session.rest_until_s

    def rest_pending(self) -> bool:
        return self.session is not None and self._now < self.session.rest_until_s

    def has_next_site(self) -> bool:
        s = self.session
        return s is not None and s.site + 1 < s.zone_limits.repeat

    def has_next_zone(self) -> bool:
        s = self.session
        return s is not None and s.zone + 1 < len(s.loaded.profile.zones)

    def estop_latch_clear(self) -> bool:
        st = self.status
        return (
            self._reset_estop_asked
            and st is not None
            and st.read_at_s > self._reset_asked_at_s
            and rules.fresh(st, self._now, self.period_s) is None
            and not st.estop_latched
        )

    def session_held(self) -> bool:
        return self.session is not None

    def fault_cleared(self) -> bool:
        st = self.status
        return (
            self._reset_fault_asked
            and st is not None
            and st.read_at_s > self._reset_asked_at_s
            and rules.fresh(st, self._now, self.period_s) is None
            and not st.faulted
            and not rules.oxygen_fault(st)
        )

    # -- the rules for a new spray ---------------------------------------------

    def spray_refusals(self, now: float) -> tuple[str, ...]:
        """Every reason a spray may not start now; empty when it may.

        An e-stop latch or fault bits are not among them: a status that shows
        either has already ended the session (see :mod:`cryoctl.core.watch`).
        """
        found: list[str | None] = []
        s, st = self.session, self.status
        if s is None or self.loaded is None:
            return ("no session running",)
        found.append(rules.profile_fits(self.loaded.profile, self.caps))
        found.append(None if self._settings_ok else "set-points not applied")
        found.append(None if self._protection_ok else "unit protection not verified")
        cap_ms = self.open_cap_wanted_ms()
        if cap_ms is not None and self.open_cap_confirmed_ms != cap_ms:
            found.append("the unit's own time limit for this zone is not confirmed")
        found.append(f"host e-stop ({self.host_estop})" if self.host_estop else None)
        found.append(rules.fresh(st, now, self.period_s))
        if st is not None:
            found += [
                rules.implausible(st),
                rules.oxygen(st),
                rules.nozzle_matches(self.loaded.profile, st),
                rules.unit_ready(self.loaded.profile, st),
                None if st.trigger and self._trigger_down else "trigger not held",
            ]
        found += [f"{code.value} alarm" for code in _BLOCKING_ALARMS if self.alarms.is_active(code)]
        found.append("resting" if now < s.rest_until_s else None)
        if s.ledger.site(s.key).passes >= s.zone_limits.passes:
            found.append(f"all {s.zone_limits.passes} passes done")
        budget_s, cause = s.budget_s(now)
        found.append(f"{cause} budget used up" if budget_s <= rules.BUDGET_EPS_S else None)
        found.append("skin too cold in this zone" if s.zone in s.skin_locked_zones else None)
        return tuple(r for r in found if r is not None)

    # -- start-up ----------------------------------------------------------------

    def open_cap_wanted_ms(self) -> int | None:
        """The unit's own cap on one opening wanted now (None: the unit has leases)."""
        s = self.session
        if s is None:
            return rules.open_cap_ms(None, None, self.caps)
        return rules.open_cap_ms(s.loaded.profile, s.zone, self.caps)

    def commands(self) -> Commands:
        phase = self.phase
        spraying = phase is SPRAYING
        zone = None if self.session is None else self.session.zone
        key = (phase, self.airflow_level, self._deadline_s if spraying else None, zone)
        cached = self._commands
        if cached is not None and cached[0] == key:
            return cached[1]
        commands = Commands(
            valve_open=spraying,
            close_first=phase in (ESTOP, FAULT, DISCONNECTED),
            airflow_level=key[1],
            next_deadline_s=key[2],
            open_cap_ms=self.open_cap_wanted_ms(),
        )
        self._commands = (key, commands)
        return commands

    def supervisor_context(self) -> SupervisorContext | None:
        s = self.session
        if s is None:
            return None
        paused = self.phase in (PAUSED, DISCONNECTED, SELFTEST)
        key = (s.session_id, s.key, paused, self.host_estop is not None)
        cached = self._context
        if cached is not None and cached[0] == key:
            return cached[1]
        context = self._build_context(s)
        self._context = (key, context)
        return context

    def _build_context(self, s: Session) -> SupervisorContext:
        device = s.loaded.profile.device
        zone = s.zone_limits
        limits = s.loaded.profile.session
        cj = device if isinstance(device, CjAirDevice) else None
        return SupervisorContext(
            session_id=s.session_id,
            site=s.key,
            nozzle=device.nozzle,
            max_dwell_s=zone.max_dwell_s,
            max_total_s=zone.max_total_s,
            passes=zone.passes,
            rest_s=zone.rest_s,
            max_session_s=limits.max_session_s,
            max_cryogen_g=limits.max_cryogen_g,
            flow_g_s=s.ledger.flow_g_s,
            skin_stop_c=cj.skin_stop_c if cj else None,
            skin_warn_c=cj.skin_warn_c if cj else None,
            # held through an outage, the session is paused too: its clock stops
            paused=self.phase in (PAUSED, DISCONNECTED, SELFTEST),
            host_estop=self.host_estop is not None,
            link_grace_s=self.link_grace_s,
        )
