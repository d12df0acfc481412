"""Turns the treatment core's state into snapshots and events for whoever listens.

The controller calls :meth:`Publisher.publish` after every wake of its loop; a
snapshot goes out only when what it shows changed, and events for every state
change, session start and end, spray start and end, and alarm log entry since
the last call. A session's start comes before its sprays, and they before its end. A
listener that raises is logged and kept: it never stops the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import structlog

from cryoctl.core.machine import DISCONNECTED
from cryoctl.core.port import Identity
from cryoctl.core.snapshot import (
    ControlEvent,
    EventName,
    Snapshot,
    alarm_event,
    same_content,
    take_snapshot,
)
from cryoctl.core.treatment import Treatment

__all__ = ["Listener", "Publisher"]

_log = structlog.get_logger("cryoctl.control.publisher")

Listener = Callable[[Snapshot | ControlEvent], None]


class Publisher:
    def __init__(self, treatment: Treatment) -> None:
        self._t = treatment
        self._listeners: list[Listener] = []
        self.latest: Snapshot | None = None
        self._seq = 0
        self._event_seq = 0
        self._phase = treatment.phase
        self._session_id: int | None = None
        self._records = 0
        self._alarm_entries = treatment.alarms.log_count
        self._spray_marks = len(treatment.spray_log)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Hear every snapshot and event from now on; returns the way to stop."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def snapshot(
        self, now: float, *, healthy: bool, close_pending: bool, identity: Identity | None
    ) -> Snapshot:
        return take_snapshot(
            self._t,
            now=now,
            seq=self._seq,
            healthy=healthy,
            close_pending=close_pending,
            identity=identity,
        )

    def publish(
        self, now: float, *, healthy: bool, close_pending: bool, identity: Identity | None
    ) -> None:
        if not self._listeners:
            return
        for event in self._events(now, identity):
            self._send(event)
        snap = self.snapshot(now, healthy=healthy, close_pending=close_pending, identity=identity)
        if not same_content(self.latest, snap):
            self._seq += 1
            snap = replace(snap, seq=self._seq)
            self.latest = snap
            self._send(snap)

    def _event(self, now: float, name: EventName, **data: object) -> ControlEvent:
        self._event_seq += 1
        return ControlEvent(self._event_seq, now, name, MappingProxyType(data))

    def _events(self, now: float, identity: Identity | None) -> list[ControlEvent]:
        t = self._t
        out: list[ControlEvent] = []
        for entry in t.alarms.log_since(self._alarm_entries):
            self._event_seq += 1
            out.append(alarm_event(self._event_seq, entry))
        self._alarm_entries = t.alarms.log_count
        s = t.session
        if s is not None and s.session_id != self._session_id:
            self._session_id = s.session_id
            meta = s.loaded.profile.meta
            out.append(self._event(
                now, "session_started", session_id=s.session_id, started_at_s=s.started_at_s,
                profile_name=meta.name, profile_version=meta.version,
                profile_sha256=s.loaded.sha256, profile_identity=s.loaded.identity,
                profile_signer=None if s.loaded.signer is None else s.loaded.signer.key_name,
                profile_signer_fingerprint=(None if s.loaded.signer is None
                                            else s.loaded.signer.fingerprint),
                zone_count=len(s.loaded.profile.zones), device_kind=t.caps.kind.value,
                unit=identity,
            ))
        for mark in t.spray_log[self._spray_marks :]:
            out.append(self._event(
                now, "spray_started" if mark.started else "spray_ended",
                session_id=mark.session_id, zone=mark.zone, site=mark.site, at_s=mark.at_s,
                ended_by=mark.ended_by,
            ))
        self._spray_marks = len(t.spray_log)
        for record in t.records[self._records :]:
            out.append(self._event(
                now, "session_ended", session_id=record.session_id, outcome=record.outcome.value,
                reason=record.reason, record=record,
            ))
        self._records = len(t.records)
        if t.phase is not self._phase:
            before, after = self._phase, t.phase
            out.append(self._event(now, "state_changed", before=before.value, after=after.value))
            if after is DISCONNECTED:
                out.append(self._event(now, "link_lost", session_held=t.session is not None))
            elif before is DISCONNECTED:
                out.append(self._event(now, "link_back", gone_s=t.last_outage_s,
                                       session_held=t.session is not None))
            self._phase = after
        return out

    def _send(self, item: Snapshot | ControlEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(item)
            except Exception:  # a listener's bug must not stop the control loop
                _log.exception("listener failed", item=type(item).__name__)
