"""The records' parts of the control process, put together at start and taken apart at stop.

:func:`open_records` opens (and upgrades) ``cryoctl.db`` in the data folder, closes
every session still open as ``interrupted``, and subscribes the recorder to the
controller; it is called before the unit is touched, so a database that cannot be
opened is a start-up failure (one line naming the file). A config unlike the one
the previous start ran with (by its SHA-256) goes into the audit trail. A write
that fails later raises the ``records_write_failed`` alarm on the loop's thread;
the desk then refuses new sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from cryoctl.config import Config
from cryoctl.control.clinic import Clinic
from cryoctl.control.controller import Controller
from cryoctl.control.recording import Recorder, close_interrupted
from cryoctl.control.requests import find_profile
from cryoctl.core.alarms import AlarmCode
from cryoctl.errors import ProfileError
from cryoctl.profile import LoadedProfile
from cryoctl.records.audit import append_audit
from cryoctl.records.schema import DB_NAME, now_utc, utc_text
from cryoctl.records.writer import RecordsWriter

__all__ = ["RecordsKit", "db_path", "open_records"]

_log = structlog.get_logger("cryoctl.control.records")


def db_path(config: Config) -> Path:
    """Where the control process of ``config`` keeps its records."""
    return config.data.dir / DB_NAME


@dataclass
class RecordsKit:
    path: Path
    writer: RecordsWriter
    recorder: Recorder
    clinic: Clinic
    unsubscribe: Callable[[], None]

    def start(self, controller: Controller) -> None:
        """Start the writer; its failures become an alarm on the running loop."""
        loop = asyncio.get_running_loop()

        def alarm(detail: str) -> None:
            now = time.monotonic()
            controller.treatment.alarms.raise_alarm(AlarmCode.RECORDS_WRITE_FAILED, now, detail)

        def report(detail: str) -> None:
            loop.call_soon_threadsafe(alarm, detail)

        self.writer.on_failure = report
        self.writer.start()

    def stop(self, controller: Controller) -> None:
        """After the loop ended: a session still open ends as interrupted; the queue is written."""
        self.unsubscribe()
        s = controller.treatment.session
        if s is not None:
            now = time.monotonic()
            self.recorder.end_now(s.ledger.summary(), now, s.elapsed_s(now),
                                  reason="the control process was stopped during the session")
        self.writer.close()


def _note_config(conn: sqlite3.Connection, config: Config, *, at_utc: str) -> None:
    """A config unlike the one the last start ran with is a ``config_changed`` audit row."""
    digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()
    row = conn.execute("SELECT detail_json FROM audit WHERE action = 'config_changed' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if row is not None and json.loads(row[0]).get("sha256") == digest:
        return
    append_audit(conn, at_utc=at_utc, action="config_changed",
                 detail={"sha256": digest, "unit": config.unit.url,
                         "kind": config.unit.kind.value, "first": row is None})


def open_records(config: Config, controller: Controller, *,
                 wall: Callable[[], datetime] = now_utc) -> RecordsKit:
    """Open the records for ``controller`` (RecordsError naming the file when they cannot be)."""
    path = db_path(config)
    writer = RecordsWriter(path)
    writer.open()
    closed: list[str] = []
    at = utc_text(wall())
    writer.run_now(lambda conn: closed.extend(close_interrupted(conn, at_utc=at)))
    writer.run_now(lambda conn: _note_config(conn, config, at_utc=at))
    if closed:
        _log.warning("sessions found open at start-up closed as interrupted", sessions=closed)
    recorder = Recorder(writer, wall=wall, device_kind=config.unit.kind.value)
    profile_dir = config.data.dir / "profiles"

    def profile(name: str) -> LoadedProfile | None:
        try:
            return find_profile(name, None, profile_dir)
        except ProfileError:
            return None

    clinic = Clinic(controller, writer, recorder, db_path=path,
                    course_gap_days=config.records.course_gap_days,
                    staff_may_override=config.auth.staff_may_override, wall=wall,
                    profiles=profile)
    unsubscribe = controller.subscribe(recorder)
    _log.info("records open", path=str(path), closed_interrupted=len(closed))
    return RecordsKit(path, writer, recorder, clinic, unsubscribe)
