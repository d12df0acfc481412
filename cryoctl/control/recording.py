"""The session records, written from what the controller publishes.

:class:`Recorder` is a listener of the controller (:mod:`cryoctl.control.publisher`):
called on the control loop, mid-cycle, it only turns each event into a write for
the :class:`~cryoctl.records.writer.RecordsWriter`'s queue; SQLite is never touched
on the loop's thread. What it writes:

- ``session_started``: the session row (a UUID; the unit; the profile; who started
  it, the patient reference, the checklist and any override, from the start the
  clinic's desk accepted, :meth:`Recorder.expect`), a zero dose row per zone, and
  an audit row (and one for the override);
- ``spray_started`` / ``spray_ended``: one row per spray, with why it ended;
- snapshots while a session runs: the dose per zone and the totals, at most every
  ``dose_every_s`` (so a killed control process keeps the dose up to then);
- ``session_ended``: outcome, reason, end time, durations and the final dose;
- every alarm event (with its priority and text) and every state change; an
  e-stop, its reset and a fault reset also go to the audit trail.

Wall-clock times come from ``wall`` (injected); durations from the controller's
monotonic clock, relative to the session's start.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog

from cryoctl.core.alarms import CATALOGUE, AlarmCode
from cryoctl.core.ledger import LedgerSummary
from cryoctl.core.port import Identity
from cryoctl.core.session import SessionRecord
from cryoctl.core.snapshot import ControlEvent, Snapshot
from cryoctl.profile import LoadedProfile
from cryoctl.records.audit import append_audit
from cryoctl.records.schema import utc_text
from cryoctl.records.writer import RecordsWriter

__all__ = ["DOSE_EVERY_S", "Recorder", "StartInfo", "close_interrupted"]

_log = structlog.get_logger("cryoctl.control.recording")

#: While a session runs, its dose rows are brought up to date at most this often.
DOSE_EVERY_S: Final = 0.2

#: The commands whose audit rows name who asked, and those rows' actions.
_RESET_ACTIONS: Final = {"reset_estop": "estop_reset", "reset_faults": "fault_reset"}

_ALARM_EVENTS: Final = {
    "alarm_raised": "raised",
    "alarm_cleared": "cleared",
    "alarm_acknowledged": "acknowledged",
    "alarm_removed": "removed",
    "alarm_audio_paused": "audio_paused",
}


@dataclass(frozen=True, slots=True)
class StartInfo:
    """What the clinic's desk accepted for the next session's start."""

    session_uuid: str
    patient_ref: str
    role: str
    token_id: str | None
    checklist: dict[str, bool]
    cold_test_done: bool
    #: ``{"reason", "role", "lifted"}`` when an override lifted a course rule.
    override: dict[str, str] | None
    loaded: LoadedProfile


@dataclass
class _Open:
    uuid: str
    core_id: int
    started_at_s: float
    zone_names: tuple[str, ...]
    last_dose_at_s: float = -1e18
    #: The dose last written (open seconds and passes): unchanged doses are not written again.
    last_written: tuple[float, int] = (-1.0, -1)
    spraying: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _zone_rows(session_uuid: str, names: tuple[str, ...], ledger: LedgerSummary | None
               ) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for index, name in enumerate(names):
        dose = ledger.zones[index] if ledger is not None and index < len(ledger.zones) else None
        rows.append((session_uuid, index, name,
                     0.0 if dose is None else dose.open_s,
                     0 if dose is None else dose.passes,
                     0 if dose is None else dose.sprays,
                     0.0 if dose is None else dose.cryogen_g))
    return rows


_UPSERT_ZONE: Final = (
    "INSERT INTO zone_doses (session_id, zone_index, zone_name, spray_s, passes, sprays, ln2_g) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, zone_index) DO UPDATE SET "
    "spray_s = excluded.spray_s, passes = excluded.passes, sprays = excluded.sprays, "
    "ln2_g = excluded.ln2_g")


class Recorder:
    """Listens to the controller and queues the writes (see the module docstring)."""

    def __init__(self, writer: RecordsWriter, *, wall: Callable[[], datetime],
                 device_kind: str, dose_every_s: float = DOSE_EVERY_S) -> None:
        self._writer = writer
        self._wall = wall
        self._kind = device_kind
        self._dose_every_s = dose_every_s
        self._expected: StartInfo | None = None
        self._open: _Open | None = None
        self._phase: str | None = None
        self.identity: Identity | None = None
        #: Who asked for the reset each audit action records (``asked``).
        self._asked: dict[str, tuple[str | None, str | None]] = {}

    # -- the desk's side -------------------------------------------------------------

    def expect(self, info: StartInfo | None) -> None:
        """The next session to start is this one (None: the start was refused after all)."""
        self._expected = info

    def asked(self, command: str, *, role: str | None, token_id: str | None) -> None:
        """Who asked for ``command``: named in its audit row (e-stop and fault resets)."""
        action = _RESET_ACTIONS.get(command)
        if action is None:
            return
        if role is None and token_id is None:
            self._asked.pop(action, None)
        else:
            self._asked[action] = (role, token_id)

    @property
    def open_session(self) -> str | None:
        return None if self._open is None else self._open.uuid

    def audit(self, action: str, *, role: str | None = None, token_id: str | None = None,
              detail: dict[str, object] | None = None) -> None:
        at = utc_text(self._wall())
        self._writer.submit(lambda conn: _audit(conn, at, action, role, token_id, detail))

    # -- the controller's side -------------------------------------------------------

    def __call__(self, item: Snapshot | ControlEvent) -> None:
        if isinstance(item, Snapshot):
            self._on_snapshot(item)
            return
        name = item.name
        data = item.data
        if name == "session_started":
            self._started(item)
        elif name == "spray_started":
            self._spray_started(data)
        elif name == "spray_ended":
            self._spray_ended(data)
        elif name == "session_ended":
            record = data.get("record")
            if isinstance(record, SessionRecord):
                self._ended(record)
        elif name in _ALARM_EVENTS:
            self._alarm(name, data)
        elif name == "state_changed":
            self._state_changed(data)
        elif name in ("link_lost", "link_back"):
            self._event(name, dict(data))

    def _uuid(self) -> str | None:
        return None if self._open is None else self._open.uuid

    def _event(self, name: str, data: dict[str, object]) -> None:
        at = utc_text(self._wall())
        sid = self._uuid()
        text = json.dumps(data, default=str, sort_keys=True)
        self._writer.submit(_exec(
            "INSERT INTO events (session_id, at_utc, name, data_json) VALUES (?, ?, ?, ?)",
            (sid, at, name, text)))

    def _started_from(self, info: StartInfo, core_id: int, started_at_s: float) -> None:
        meta = info.loaded.profile.meta
        signer = info.loaded.signer
        self._started(ControlEvent(0, started_at_s, "session_started", {
            "session_id": core_id, "started_at_s": started_at_s, "profile_name": meta.name,
            "profile_version": meta.version, "profile_sha256": info.loaded.sha256,
            "profile_identity": info.loaded.identity,
            "profile_signer": None if signer is None else signer.key_name,
            "profile_signer_fingerprint": None if signer is None else signer.fingerprint,
            "zone_count": len(info.loaded.profile.zones), "unit": self.identity}))

    def _started(self, event: ControlEvent) -> None:
        data = event.data
        info, self._expected = self._expected, None
        core_id = int(str(data["session_id"]))
        started_at_s = float(str(data["started_at_s"]))
        unit = data.get("unit")
        identity = unit if isinstance(unit, Identity) else self.identity
        self.identity = identity
        sha = str(data["profile_sha256"])
        signer_name = _text_or_none(data.get("profile_signer"))
        signer_fingerprint = _text_or_none(data.get("profile_signer_fingerprint"))
        if info is None or info.loaded.sha256 != sha:
            _log.error("session started without a start the desk accepted", session=core_id)
            names: tuple[str, ...] = tuple(f"zone {i + 1}" for i in
                                           range(int(str(data["zone_count"]))))
            session_uuid = str(uuid.uuid4())
        else:
            names = tuple(z.name for z in info.loaded.profile.zones)
            session_uuid = info.session_uuid
        self._open = _Open(session_uuid, core_id, started_at_s, names)
        at = utc_text(self._wall())
        row = (
            session_uuid, self._kind,
            None if identity is None else identity.serial,
            None if identity is None else identity.firmware,
            None if identity is None else identity.model,
            str(data["profile_name"]), int(str(data["profile_version"])), sha,
            "" if info is None else info.patient_ref,
            "unknown" if info is None else info.role,
            None if info is None else info.token_id,
            json.dumps({} if info is None else info.checklist, ensure_ascii=False),
            0 if info is None else int(info.cold_test_done),
            None if info is None or info.override is None else info.override["reason"],
            None if info is None or info.override is None else info.override["role"],
            at, at,
            signer_name is not None, signer_name, signer_fingerprint,
        )
        zones = _zone_rows(session_uuid, names, None)
        detail: dict[str, object] = {
            "session": session_uuid, "profile": str(data["profile_identity"]),
            "patient_ref": row[8], "profile_signer": signer_name,
            "profile_signer_fingerprint": signer_fingerprint}
        override = None if info is None else info.override

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (id, device_kind, unit_serial, unit_firmware, unit_model, "
                "profile_name, profile_version, profile_sha256, patient_ref, started_by_role, "
                "started_by_token, checklist_json, cold_test_done, override_reason, "
                "override_role, started_utc, updated_utc, profile_signed, profile_signer, "
                "profile_signer_fingerprint) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            conn.executemany(_UPSERT_ZONE, zones)
            _audit(conn, at, "session_started", row[9], row[10], detail)
            if override is not None:
                _audit(conn, at, "override", override["role"], row[10],
                       {"session": session_uuid, **override})

        self._writer.submit(write)

    def _spray_started(self, data: Any) -> None:
        o = self._open
        if o is None or data["session_id"] != o.core_id:
            return
        o.spraying = True
        values = (o.uuid, int(data["zone"]), int(data["site"]),
                  float(data["at_s"]) - o.started_at_s)
        self._writer.submit(_exec(
            "INSERT INTO sprays (session_id, zone_index, site_index, start_s) "
            "VALUES (?, ?, ?, ?)", values))

    def _spray_ended(self, data: Any) -> None:
        o = self._open
        if o is None or data["session_id"] != o.core_id:
            return
        o.spraying = False
        values = (float(data["at_s"]) - o.started_at_s, str(data["ended_by"]), o.uuid)
        self._writer.submit(_exec(
            "UPDATE sprays SET end_s = ?, ended_by = ? WHERE session_id = ? AND end_s IS NULL",
            values))

    def _on_snapshot(self, snap: Snapshot) -> None:
        o = self._open
        view = snap.session
        if o is None or view is None or view.session_id != o.core_id:
            return
        if snap.at_s - o.last_dose_at_s < self._dose_every_s:
            return
        dose = (view.ledger.session.open_s, view.ledger.session.passes)
        if dose == o.last_written:
            return
        o.last_dose_at_s = snap.at_s
        o.last_written = dose
        self._write_dose(o, view.ledger, snap.at_s, outcome=None)

    def _write_dose(self, o: _Open, ledger: LedgerSummary, at_s: float, *,
                    outcome: tuple[str, str, float] | None) -> None:
        zones = _zone_rows(o.uuid, o.zone_names, ledger)
        at = utc_text(self._wall())
        total = ledger.session
        duration_s = max(0.0, at_s - o.started_at_s)
        session_uuid = o.uuid

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_UPSERT_ZONE, zones)
            if outcome is None:
                conn.execute("UPDATE sessions SET spray_s = ?, ln2_g = ?, duration_s = ?, "
                             "updated_utc = ? WHERE id = ?",
                             (total.open_s, total.cryogen_g, duration_s, at, session_uuid))
                return
            result, reason, treated_s = outcome
            conn.execute(
                "UPDATE sessions SET spray_s = ?, ln2_g = ?, duration_s = ?, treated_s = ?, "
                "updated_utc = ?, ended_utc = ?, outcome = ?, reason = ? WHERE id = ?",
                (total.open_s, total.cryogen_g, duration_s, treated_s, at, at, result, reason,
                 session_uuid))
            conn.execute("UPDATE sprays SET end_s = ?, ended_by = ? WHERE session_id = ? "
                         "AND end_s IS NULL", (duration_s, f"session {result}", session_uuid))
            _audit(conn, at, "session_ended", None, None,
                   {"session": session_uuid, "outcome": result, "reason": reason,
                    "spray_s": round(total.open_s, 3)})

        self._writer.submit(write)

    def _ended(self, record: SessionRecord) -> None:
        o = self._open
        info = self._expected
        if o is None and info is not None and info.loaded.sha256 == record.profile_sha256:
            # Started and ended between two publications (an e-stop right after the
            # start): its start is written now, from what the desk accepted.
            self._started_from(info, record.session_id, record.started_at_s)
            o = self._open
        if o is None or o.core_id != record.session_id:
            _log.error("a session ended that was not recorded as started",
                       session=record.session_id)
            return
        self._write_dose(o, record.ledger, record.ended_at_s,
                         outcome=(record.outcome.value, record.reason, record.treated_s))
        self._open = None

    def end_now(self, ledger: LedgerSummary, at_s: float, treated_s: float, *,
                reason: str) -> None:
        """The control process stops with a session open: it ends as interrupted."""
        o = self._open
        if o is None:
            return
        self._write_dose(o, ledger, at_s, outcome=("interrupted", reason, treated_s))
        self._open = None

    def _alarm(self, name: str, data: Any) -> None:
        code = data.get("code")
        spec = None
        if code is not None:
            try:
                spec = CATALOGUE[AlarmCode(code)]
            except ValueError:
                spec = None
        event = _ALARM_EVENTS[name]
        at = utc_text(self._wall())
        sid = self._uuid()
        detail = str(data.get("detail") or "")
        values = (sid, at, code, None if spec is None else spec.priority.name.lower(), event,
                  detail, "" if spec is None else spec.message)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO alarm_log (session_id, at_utc, code, priority, event, "
                         "detail, text) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            if event == "raised" and code == AlarmCode.ESTOP.value:
                _audit(conn, at, "estop", None, None, {"source": detail, "session": sid})

        self._writer.submit(write)

    def _state_changed(self, data: Any) -> None:
        before, after = data.get("before"), data.get("after")
        self._event("state_changed", {"before": before, "after": after})
        action = {"estop": "estop_reset", "fault": "fault_reset"}.get(str(before))
        if action is not None and after not in ("estop", "fault"):
            role, token_id = self._asked.pop(action, (None, None))
            self.audit(action, role=role, token_id=token_id, detail={"to": after})


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _exec(sql: str, values: tuple[object, ...]) -> Callable[[sqlite3.Connection], None]:
    def write(conn: sqlite3.Connection) -> None:
        conn.execute(sql, values)

    return write


def _audit(conn: sqlite3.Connection, at: str, action: str, role: str | None,
           token_id: str | None, detail: dict[str, object] | None) -> None:
    append_audit(conn, at_utc=at, action=action, role=role, token_id=token_id, detail=detail)


def close_interrupted(conn: sqlite3.Connection, *, at_utc: str) -> list[str]:
    """Every session still open ends as interrupted (at start-up, before the loop runs)."""
    rows = conn.execute("SELECT id, duration_s, updated_utc FROM sessions "
                        "WHERE outcome IS NULL").fetchall()
    for row in rows:
        sid, duration_s, updated = row[0], float(row[1]), row[2]
        reason = "the control process stopped during the session (found open at start-up)"
        conn.execute("UPDATE sessions SET outcome = 'interrupted', reason = ?, ended_utc = ?, "
                     "treated_s = CASE WHEN treated_s > 0 THEN treated_s ELSE duration_s END "
                     "WHERE id = ?", (reason, updated or at_utc, sid))
        conn.execute("UPDATE sprays SET end_s = MAX(start_s, ?), ended_by = 'interrupted' "
                     "WHERE session_id = ? AND end_s IS NULL", (duration_s, sid))
        append_audit(conn, at_utc=at_utc, action="session_ended",
                     detail={"session": sid, "outcome": "interrupted", "reason": reason})
    return [str(r[0]) for r in rows]
