"""What the control loop publishes: immutable snapshots and a stream of events.

A :class:`Snapshot` is everything the panel shows, taken between two cycles; the
controller publishes one after every cycle in which anything a person would see
changed (ages of readings alone do not count as a change). A
:class:`ControlEvent` is one thing that happened: a state change, a session
started or ended, an alarm raised, acknowledged or cleared. A session's
``session_started`` event carries all a record needs to be written at once.

Pure: built from the treatment core's state and the times the shell passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from cryoctl.core.alarms import AlarmLogEntry, AlarmSnapshot
from cryoctl.core.ledger import LedgerSummary
from cryoctl.core.machine import SPRAYING
from cryoctl.core.port import Identity, Status
from cryoctl.core.treatment import Treatment

__all__ = [
    "SNAPSHOT_VERSION",
    "ControlEvent",
    "EventName",
    "ProfileView",
    "SessionView",
    "Snapshot",
    "UnitView",
    "alarm_event",
    "same_content",
    "take_snapshot",
]

#: Bumped when a field of the snapshot changes meaning or goes away.
SNAPSHOT_VERSION = 1

EventName = Literal[
    "state_changed",
    "session_started",
    "session_ended",
    "spray_started",
    "spray_ended",
    "alarm_raised",
    "alarm_cleared",
    "alarm_acknowledged",
    "alarm_removed",
    "alarm_audio_paused",
    "link_lost",
    "link_back",
]


@dataclass(frozen=True, slots=True)
class UnitView:
    """The unit's last status, each group of fields with its age at the snapshot."""

    valve_reported_open: bool
    valve_feedback: bool | None
    trigger: bool
    estop_latched: bool
    nozzle: str | None
    fault_bits: int
    faults: tuple[str, ...]
    o2_pct: float | None
    outlet_temp_c: float | None
    tip_temp_c: float | None
    skin_temp_c: float | None
    pressure_kpa: float | None
    dewar_level_pct: float | None
    airflow_level: int | None
    cooler_ready: bool | None
    hose_connected: bool | None
    #: Ages (s) of the fast fields, the valve read-back and the telemetry.
    fast_age_s: float
    valve_age_s: float
    telemetry_age_s: float


@dataclass(frozen=True, slots=True)
class ProfileView:
    name: str
    version: int
    title: str
    sha256: str
    #: Whether its detached signature verified under a trusted key, and which key.
    signed: bool = False
    signer: str | None = None
    signer_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: int
    zone: int
    zone_name: str
    zone_count: int
    site: int
    site_count: int
    passes_done: int
    passes_allowed: int
    spraying: bool
    paused: bool
    #: Seconds left of the spray under way (None while not spraying).
    spray_left_s: float | None
    #: Spray time left at this site of the zone, and of the session's time cap.
    zone_left_s: float
    session_left_s: float
    #: Rest left before the next pass may start (0 when none is running).
    rest_left_s: float
    elapsed_s: float
    ledger: LedgerSummary


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    #: One more for every snapshot the controller publishes.
    seq: int
    at_s: float
    phase: str
    #: The loop is on time and the unit answers (heartbeats are going out).
    healthy: bool
    #: A close was sent and no status has confirmed it yet.
    close_pending: bool
    identity: Identity | None
    profile: ProfileView | None
    session: SessionView | None
    unit: UnitView | None
    alarms: AlarmSnapshot
    #: Why a spray may not start now, in words staff understand (empty when it may).
    refusals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ControlEvent:
    seq: int
    at_s: float
    name: EventName
    data: Mapping[str, object]


def _unit_view(st: Status, now: float) -> UnitView:
    return UnitView(
        valve_reported_open=st.valve_commanded,
        valve_feedback=st.valve_feedback,
        trigger=st.trigger,
        estop_latched=st.estop_latched,
        nozzle=st.nozzle,
        fault_bits=st.fault_bits,
        faults=tuple(sorted(st.faults)),
        o2_pct=st.o2_pct,
        outlet_temp_c=st.outlet_temp_c,
        tip_temp_c=st.tip_temp_c,
        skin_temp_c=st.skin_temp_c,
        pressure_kpa=st.pressure_kpa,
        dewar_level_pct=st.dewar_level_pct,
        airflow_level=st.airflow_level,
        cooler_ready=st.cooler_ready,
        hose_connected=st.hose_connected,
        fast_age_s=max(0.0, now - st.read_at_s),
        valve_age_s=max(0.0, now - st.valve_at_s),
        telemetry_age_s=max(0.0, now - st.telemetry_at_s),
    )


def _session_view(t: Treatment, now: float) -> SessionView | None:
    s = t.session
    if s is None:
        return None
    zone = s.zone_limits
    profile = s.loaded.profile
    site = s.ledger.site(s.key)
    deadline = t.commands().next_deadline_s
    spraying = t.phase is SPRAYING
    return SessionView(
        session_id=s.session_id,
        zone=s.zone,
        zone_name=zone.name,
        zone_count=len(profile.zones),
        site=s.site,
        site_count=zone.repeat,
        passes_done=site.passes,
        passes_allowed=zone.passes,
        spraying=spraying,
        paused=s.paused_since_s is not None,
        spray_left_s=max(0.0, deadline - now) if spraying and deadline is not None else None,
        zone_left_s=max(0.0, zone.max_total_s - site.open_s),
        session_left_s=max(0.0, profile.session.max_session_s - s.elapsed_s(now)),
        rest_left_s=max(0.0, s.rest_until_s - now),
        elapsed_s=s.elapsed_s(now),
        ledger=s.ledger.summary(),
    )


def take_snapshot(
    t: Treatment,
    *,
    now: float,
    seq: int,
    healthy: bool,
    close_pending: bool,
    identity: Identity | None,
) -> Snapshot:
    loaded = t.loaded
    profile = None
    if loaded is not None:
        meta = loaded.profile.meta
        signer = loaded.signer
        profile = ProfileView(meta.name, meta.version, meta.title, loaded.sha256,
                              signed=signer is not None,
                              signer=None if signer is None else signer.key_name,
                              signer_fingerprint=None if signer is None else signer.fingerprint)
    return Snapshot(
        version=SNAPSHOT_VERSION,
        seq=seq,
        at_s=now,
        phase=t.phase.value,
        healthy=healthy,
        close_pending=close_pending,
        identity=identity,
        profile=profile,
        session=_session_view(t, now),
        unit=None if t.status is None else _unit_view(t.status, now),
        alarms=t.alarms.snapshot(now),
        refusals=t.spray_refusals(now) if t.session is not None else (),
    )


def _ageless(s: Snapshot) -> Snapshot:
    unit = s.unit
    if unit is not None:
        unit = replace(unit, fast_age_s=0.0, valve_age_s=0.0, telemetry_age_s=0.0)
    return replace(s, seq=0, at_s=0.0, unit=unit)


def same_content(a: Snapshot | None, b: Snapshot) -> bool:
    """Whether two snapshots show the same (ages and times aside)."""
    return a is not None and _ageless(a) == _ageless(b)


_ALARM_EVENTS: dict[str, EventName] = {
    "raised": "alarm_raised",
    "cleared": "alarm_cleared",
    "acknowledged": "alarm_acknowledged",
    "removed": "alarm_removed",
    "audio_paused": "alarm_audio_paused",
}


def alarm_event(seq: int, entry: AlarmLogEntry) -> ControlEvent:
    data = {"code": None if entry.code is None else entry.code.value, "detail": entry.detail}
    return ControlEvent(seq, entry.at_s, _ALARM_EVENTS[entry.event], MappingProxyType(data))
