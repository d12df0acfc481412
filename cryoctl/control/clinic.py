"""The clinic's desk in the control process: starts under the clinic's rules, and the records.

The socket's ``start_session`` comes here (so the panel, the CLI and any other
client meet the same rules), and is refused, with the reason in words staff
understand, when:

- the records cannot be written (a write failed since start, or the small write
  committed before each start fails: no new session until the database takes
  writes again and the control process is restarted);
- no profile is loaded, or not the one the request names (``profile_sha256``);
- the checklist or cold test of the profile is not confirmed (never overridable);
- the interval or the course size of :mod:`cryoctl.records.course` says no, and no
  override with a reason from a role allowed to give one lifts it.

Then the start goes to the controller's queue like any staff command, and the
treatment machine makes its own checks (unit ready, profile applied and fitting).
The patient's history is read off the loop's thread, on a read-only connection;
the session row is written by the :class:`~cryoctl.control.recording.Recorder`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import structlog
from pydantic import BaseModel

from cryoctl.control.controller import Controller
from cryoctl.control.recording import Recorder, StartInfo
from cryoctl.core.staff import StartSession
from cryoctl.errors import RecordsError
from cryoctl.profile import LoadedProfile, SessionLimits
from cryoctl.protocol import (
    MAX_LINE_BYTES,
    AuditRequest,
    CourseRequest,
    RecordsReply,
    Reply,
    SessionRequest,
    SessionsRequest,
    SessionStartReply,
    StartSessionRequest,
)
from cryoctl.records.course import CourseStatus, course_status, start_refusal
from cryoctl.records.queries import parse_utc, patient_history, session_detail, session_list
from cryoctl.records.schema import open_read_only
from cryoctl.records.writer import RecordsWriter

__all__ = ["Clinic"]

_log = structlog.get_logger("cryoctl.control.clinic")

#: A read waits at most this long for the writes queued before it.
_FLUSH_WAIT_S: Final = 2.0


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clinic:
    def __init__(self, controller: Controller, writer: RecordsWriter, recorder: Recorder, *,
                 db_path: Path, course_gap_days: int, staff_may_override: bool,
                 wall: Callable[[], datetime], profiles: Callable[[str], LoadedProfile | None]
                 ) -> None:
        self.controller = controller
        self.writer = writer
        self.recorder = recorder
        self.db_path = db_path
        self.course_gap_days = course_gap_days
        self.staff_may_override = staff_may_override
        self._wall = wall
        self._profiles = profiles
        self._lock = asyncio.Lock()

    # -- reading, off the loop's thread ------------------------------------------------

    def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = open_read_only(self.db_path)
        try:
            return query(conn)
        finally:
            conn.close()

    async def _query(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """Read after every write queued so far (a session just ended counts)."""
        if not await asyncio.to_thread(self.writer.flush, _FLUSH_WAIT_S):
            _log.warning("records read before the writer caught up", wait_s=_FLUSH_WAIT_S)
        return await asyncio.to_thread(self._read, query)

    async def course(self, patient_ref: str, profile: str, limits: SessionLimits
                     ) -> CourseStatus:
        past = await self._query(lambda c: patient_history(c, patient_ref, profile))
        return course_status(profile, limits, past, now_utc=self._wall(),
                             course_gap_days=self.course_gap_days)

    # -- requests ----------------------------------------------------------------------

    async def handle(self, request: BaseModel) -> BaseModel:
        try:
            if isinstance(request, StartSessionRequest):
                return await self.start(request)
            if isinstance(request, SessionsRequest):
                return await self._sessions(request)
            if isinstance(request, SessionRequest):
                sid = request.session_id
                found = await self._query(lambda c: session_detail(c, sid))
                return RecordsReply(id=request.id, ok=True, data=found)
            if isinstance(request, CourseRequest):
                return await self._course(request)
            if isinstance(request, AuditRequest):
                self.recorder.audit(request.action, role=request.role,
                                    token_id=request.token_id, detail=dict(request.detail))
                return Reply(id=request.id, ok=True)
        except (RecordsError, sqlite3.Error) as exc:
            _log.error("records request failed", type=type(request).__name__, error=str(exc))
            rid = int(getattr(request, "id", 0))
            if isinstance(request, StartSessionRequest):
                return SessionStartReply(id=rid, ok=False,
                                         reason=f"the session records cannot be read: {exc}")
            return RecordsReply(id=rid, ok=False, reason=f"the records cannot be read: {exc}")
        raise TypeError(f"not a records request: {type(request).__name__}")

    async def _sessions(self, request: SessionsRequest) -> RecordsReply:
        since = request.since
        if since is not None:
            try:
                since = parse_utc(since).strftime("%Y-%m-%dT%H:%M:%S")
            except ValueError:
                return RecordsReply(id=request.id, ok=False,
                                    reason=f"since: not a date or time: {request.since!r}")
        patient, limit = request.patient, request.limit
        rows = await self._query(lambda c: session_list(c, patient=patient, since=since,
                                                        limit=limit))
        # One answer is one line: the oldest rows go when the newest fill it.
        while rows and len(json.dumps(rows)) > MAX_LINE_BYTES - 1024:
            rows = rows[: max(1, len(rows) * 3 // 4)] if len(rows) > 1 else []
        return RecordsReply(id=request.id, ok=True, data={"sessions": rows})

    async def _course(self, request: CourseRequest) -> RecordsReply:
        loaded = await asyncio.to_thread(self._profiles, request.profile)
        if loaded is None:
            return RecordsReply(id=request.id, ok=False, reason=f"no profile {request.profile}")
        status = await self.course(request.patient_ref, loaded.name, loaded.profile.session)
        return RecordsReply(id=request.id, ok=True, data={
            "patient_ref": request.patient_ref, "profile": loaded.name,
            "sessions_done": status.sessions_done, "sessions_left": status.sessions_left,
            "last_session_utc": _utc(status.last_session_utc),
            "next_allowed_utc": _utc(status.next_allowed_utc),
            "refusal": status.refusal, "overridable": status.overridable})

    async def start(self, request: StartSessionRequest) -> SessionStartReply:
        def refused(reason: str, overridable: bool = False) -> SessionStartReply:
            _log.info("session start refused", reason=reason, role=request.role)
            return SessionStartReply(id=request.id, ok=False, reason=reason,
                                     overridable=overridable)

        async with self._lock:
            # A database that stopped taking writes while idle (a full disk, a file
            # system gone read-only) is found here, before any cold, not mid-session.
            if not self.writer.failed:
                answered = await asyncio.to_thread(self.writer.check, _FLUSH_WAIT_S)
                if not answered and not self.writer.failed:
                    return refused("the session records did not answer within "
                                   f"{_FLUSH_WAIT_S:g} s: no new session while they "
                                   "cannot be written")
            if self.writer.failed:
                return refused("the session records cannot be written "
                               f"({self.writer.last_failure}); no new session until a "
                               "technician has fixed it")
            if self.recorder.open_session is not None:
                return refused("a session is already running")
            loaded = self.controller.treatment.loaded
            if loaded is None:
                return refused("no profile is loaded: choose one first")
            if request.profile_sha256 is not None and request.profile_sha256 != loaded.sha256:
                return refused(f"the loaded profile ({loaded.identity}) is not the one "
                               "confirmed on the panel: load it again")
            limits = loaded.profile.session
            course = await self.course(request.patient_ref, loaded.name, limits)
            reason = None if request.override is None else request.override.reason
            refusal = start_refusal(loaded.name, limits, course, answers=request.checklist,
                                    cold_test_done=request.cold_test_done, role=request.role,
                                    override_reason=reason,
                                    staff_may_override=self.staff_may_override)
            if refusal is not None:
                return refused(refusal.text, refusal.overridable)
            override = None
            if course.refusal is not None and reason is not None:
                override = {"reason": reason.strip(), "role": request.role,
                            "lifted": course.refusal}
                _log.warning("course rule overridden", role=request.role, reason=reason,
                             lifted=course.refusal)
            session_uuid = str(uuid.uuid4())
            self.recorder.expect(StartInfo(
                session_uuid=session_uuid, patient_ref=request.patient_ref, role=request.role,
                token_id=request.token_id, checklist=dict(request.checklist),
                cold_test_done=request.cold_test_done, override=override, loaded=loaded))
            answer = await self.controller.submit(StartSession())
            if not answer.ok:
                self.recorder.expect(None)
                return refused(answer.reason or "the session did not start")
            return SessionStartReply(id=request.id, ok=True, session_id=session_uuid)
