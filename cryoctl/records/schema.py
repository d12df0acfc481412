"""The records database: its tables, its ordered migrations, and how it is opened.

One SQLite file (``cryoctl.db`` in the data folder): WAL, ``synchronous=FULL``,
foreign keys on. The schema's version is ``PRAGMA user_version``; :data:`MIGRATIONS`
are applied in order at start, each in its own transaction, so an older database
is upgraded in place. A database newer than this program (a later version wrote
it) is refused with a :class:`~cryoctl.errors.RecordsError` naming the file and
both versions; nothing in it is touched.

Times are UTC text (``2026-12-01T11:51:09.123Z``, which sorts as it reads);
durations are seconds of the control process's monotonic clock.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryoctl.errors import RecordsError

__all__ = [
    "DB_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect",
    "migrate",
    "open_read_only",
    "open_records",
    "utc_text",
]

DB_NAME: Final = "cryoctl.db"

_OUTCOMES = "'completed', 'stopped', 'estop', 'fault', 'interrupted'"

#: The first schema, as the first release wrote it.
_V1: Final = f"""
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    device_kind TEXT NOT NULL,
    unit_serial TEXT,
    unit_firmware TEXT,
    profile_name TEXT NOT NULL,
    profile_version INTEGER NOT NULL,
    profile_sha256 TEXT NOT NULL,
    patient_ref TEXT NOT NULL,
    started_by_role TEXT NOT NULL,
    started_by_token TEXT,
    checklist_json TEXT NOT NULL DEFAULT '{{}}',
    cold_test_done INTEGER NOT NULL DEFAULT 0,
    override_reason TEXT,
    override_role TEXT,
    started_utc TEXT NOT NULL,
    ended_utc TEXT,
    treated_s REAL NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL DEFAULT 0,
    spray_s REAL NOT NULL DEFAULT 0,
    ln2_g REAL NOT NULL DEFAULT 0,
    outcome TEXT CHECK (outcome IS NULL OR outcome IN ({_OUTCOMES})),
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE zone_doses (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    zone_index INTEGER NOT NULL,
    zone_name TEXT NOT NULL,
    spray_s REAL NOT NULL DEFAULT 0,
    passes INTEGER NOT NULL DEFAULT 0,
    sprays INTEGER NOT NULL DEFAULT 0,
    ln2_g REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, zone_index)
);
CREATE TABLE sprays (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    zone_index INTEGER NOT NULL,
    site_index INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL,
    ended_by TEXT
);
CREATE TABLE alarm_log (
    id INTEGER PRIMARY KEY,
    session_id TEXT REFERENCES sessions(id),
    at_utc TEXT NOT NULL,
    code TEXT,
    priority TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    session_id TEXT REFERENCES sessions(id),
    at_utc TEXT NOT NULL,
    name TEXT NOT NULL,
    data_json TEXT NOT NULL DEFAULT '{{}}'
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_utc TEXT NOT NULL,
    role TEXT,
    token_id TEXT,
    action TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{{}}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""

#: The second: the unit's model, when the session row was last brought up to date
#: (what an interrupted session's dose runs to), each alarm's panel text, the chain
#: head the writer keeps beside the audit trail, and the index the course rules read by.
_V2: Final = """
ALTER TABLE sessions ADD COLUMN unit_model TEXT;
ALTER TABLE sessions ADD COLUMN updated_utc TEXT;
ALTER TABLE alarm_log ADD COLUMN text TEXT NOT NULL DEFAULT '';
CREATE TABLE audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (one, last_id, last_hash)
    SELECT 1, id, hash FROM audit ORDER BY id DESC LIMIT 1;
CREATE INDEX sessions_by_patient ON sessions (patient_ref, profile_name, started_utc);
CREATE INDEX sprays_by_session ON sprays (session_id);
CREATE INDEX alarms_by_session ON alarm_log (session_id);
"""

#: The third: whether the session's profile was signed, and by which trusted key
#: (its name and fingerprint), so the record shows who vouched for the dose
#: (sessions recorded before it read as unsigned with no signer); and the one-row
#: table the writer commits to before a session starts, to learn that the
#: database still takes writes (a full disk, a file system gone read-only).
_V3: Final = """
ALTER TABLE sessions ADD COLUMN profile_signed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN profile_signer TEXT;
ALTER TABLE sessions ADD COLUMN profile_signer_fingerprint TEXT;
CREATE TABLE write_check (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    writes INTEGER NOT NULL
);
"""

#: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``.
MIGRATIONS: Final[tuple[str, ...]] = (_V1, _V2, _V3)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def utc_text(when: datetime) -> str:
    """A UTC time as the records keep it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the records' pragmas, for the writer (read-write, created if missing)."""
    try:
        conn = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise RecordsError(f"{path}: cannot open the records database: {exc}") from None
    try:
        _refuse_newer(conn, path)  # before WAL is switched on: a newer file stays untouched
    except BaseException:
        conn.close()
        raise
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
    except sqlite3.Error as exc:
        raise RecordsError(f"{path}: cannot open the records database: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def _refuse_newer(conn: sqlite3.Connection, path: Path) -> int:
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise RecordsError(f"{path}: not a records database: {exc}") from None
    if found > SCHEMA_VERSION:
        raise RecordsError(
            f"{path}: the records database has schema version {found}, newer than this "
            f"cryoctl knows ({SCHEMA_VERSION}); a later version wrote it: refusing to touch it")
    return found


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; the version it had before."""
    found = _refuse_newer(conn, path)
    for version in range(found, SCHEMA_VERSION):
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise RecordsError(f"{path}: cannot upgrade the records database: {exc}") from None
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise RecordsError(f"{path}: upgrading the records database from schema "
                               f"{version} to {version + 1} failed: {exc}") from None
    return found


def _statements(script: str) -> list[str]:
    """A migration script split into statements (none of them holds a ``;`` in a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def open_records(path: Path) -> sqlite3.Connection:
    """The writer's connection: opened, pragmas set, migrated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection (the CLI, the control process's queries); the schema must match."""
    if not path.exists():
        raise RecordsError(f"{path}: no records database there")
    try:
        conn = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise RecordsError(f"{path}: cannot read the records database: {exc}") from None
    if version != SCHEMA_VERSION:
        conn.close()
        raise RecordsError(f"{path}: the records database has schema version {version}, "
                           f"this cryoctl reads {SCHEMA_VERSION}"
                           + ("; start the control process once to upgrade it"
                              if version < SCHEMA_VERSION else ""))
    conn.row_factory = sqlite3.Row
    return conn


def now_utc() -> datetime:
    """The wall clock, for the control shell (the core never reads it)."""
    return datetime.now(UTC)
