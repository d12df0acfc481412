"""The audit trail: who did what, each row chained to the one before by SHA-256.

A row's ``hash`` is the SHA-256 of the previous row's hash and the row's own
content (:func:`row_hash`); the first row follows :data:`GENESIS`. The writer also
keeps the chain's head (last id and hash) in ``audit_head``, in the same
transaction, so :func:`verify` tells a row added after the last one the writer
wrote (inserted) from the last row changed (edited), and finds the last rows
deleted. :func:`verify` names the rows that break the chain:

- **edited**: the row's content no longer gives its hash, while the rows around it
  still link to it;
- **deleted**: a row links to a hash no row before it has (and ids are missing);
- **inserted**: a row that the next row does not link to, or one past the head.

An unkeyed chain cannot stop someone who rewrites every row after a change, and
the head with it; it makes a careless or partial change plain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryoctl.errors import RecordsError
from cryoctl.records.schema import SCHEMA_VERSION, connect

__all__ = ["ACTIONS", "GENESIS", "AuditProblem", "append_audit", "audit_into", "row_hash",
           "verify"]

GENESIS: Final = "0" * 64

#: What the trail records (the ``action`` column).
ACTIONS: Final = frozenset({
    "login", "login_failed", "logout", "profile_installed", "session_started",
    "session_ended", "override", "estop", "estop_reset", "fault_reset", "config_changed",
    "records_opened",
})


def row_hash(prev_hash: str, at_utc: str, role: str | None, token_id: str | None, action: str,
             detail_json: str) -> str:
    content = json.dumps([at_utc, role, token_id, action, detail_json], ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def append_audit(conn: sqlite3.Connection, *, at_utc: str, action: str,
                 role: str | None = None, token_id: str | None = None,
                 detail: Mapping[str, object] | None = None) -> int:
    """Add one row at the end of the chain (inside the caller's transaction); its id."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    detail_json = json.dumps(dict(detail or {}), sort_keys=True, ensure_ascii=False,
                             default=str)
    last = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev = GENESIS if last is None else str(last[0])
    digest = row_hash(prev, at_utc, role, token_id, action, detail_json)
    cur = conn.execute(
        "INSERT INTO audit (at_utc, role, token_id, action, detail_json, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", (at_utc, role, token_id, action, detail_json, prev, digest))
    row_id = int(cur.lastrowid or 0)
    conn.execute("INSERT INTO audit_head (one, last_id, last_hash) VALUES (1, ?, ?) "
                 "ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, "
                 "last_hash = excluded.last_hash", (row_id, digest))
    return row_id


def audit_into(path: Path, *, at_utc: str, action: str, role: str | None = None,
               token_id: str | None = None, detail: Mapping[str, object] | None = None) -> int:
    """One audit row into the database at ``path`` from outside the control process.

    For the CLI: the database must exist and have this program's schema (it is
    neither created nor upgraded here; the control process does both). The row is
    appended in its own ``BEGIN IMMEDIATE`` transaction, so it queues behind the
    control process's writer and the chain stays whole. RecordsError naming the
    file when the row cannot be written.
    """
    if not path.exists():
        raise RecordsError(f"{path}: no records database there (start the control process "
                           "once to create it)")
    conn = connect(path)
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found != SCHEMA_VERSION:
            raise RecordsError(f"{path}: the records database has schema version {found}, "
                               f"this cryoctl writes {SCHEMA_VERSION}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            row_id = append_audit(conn, at_utc=at_utc, action=action, role=role,
                                  token_id=token_id, detail=detail)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return row_id
    except sqlite3.Error as exc:
        raise RecordsError(f"{path}: cannot write to the audit trail: {exc}") from None
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class AuditProblem:
    #: The row named: the one edited or inserted, or the first after a deletion.
    row_id: int
    kind: str  # "edited" | "inserted" | "deleted"
    text: str


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    at_utc: str
    role: str | None
    token_id: str | None
    action: str
    detail_json: str
    prev_hash: str
    hash: str

    def intact(self) -> bool:
        return row_hash(self.prev_hash, self.at_utc, self.role, self.token_id, self.action,
                        self.detail_json) == self.hash


def _ids(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}-{last}"


def verify(conn: sqlite3.Connection) -> tuple[int, list[AuditProblem]]:
    """The rows checked, and every break found, in the order of the rows."""
    rows = [_Row(*r) for r in conn.execute(
        "SELECT id, at_utc, role, token_id, action, detail_json, prev_hash, hash "
        "FROM audit ORDER BY id")]
    head = conn.execute("SELECT last_id, last_hash FROM audit_head").fetchone()
    head_id = None if head is None else int(head[0])
    problems: list[AuditProblem] = []
    skip_next_link = False
    for i, row in enumerate(rows):
        before = rows[i - 1] if i else None
        linked = row.prev_hash == (GENESIS if before is None else before.hash)
        if skip_next_link:  # the row before was an insertion; this one was judged with it
            skip_next_link = False
            linked = True
        after = rows[i + 1] if i + 1 < len(rows) else None
        if head_id is not None and row.id > head_id:
            problems.append(AuditProblem(row.id, "inserted", f"audit row {row.id} was inserted: "
                                         f"the trail's last row written is {head_id}"))
            continue
        if linked and row.intact():
            continue
        if linked:
            if after is not None and after.prev_hash != row.hash and (
                    after.prev_hash == row.prev_hash):
                problems.append(AuditProblem(row.id, "inserted",
                                             f"audit row {row.id} was inserted: the row after "
                                             f"it follows row {before.id if before else '-'}"))
                skip_next_link = True
            else:
                problems.append(AuditProblem(row.id, "edited", f"audit row {row.id} was edited: "
                                             "its content does not give its hash"))
            continue
        gone_from = before.id + 1 if before is not None else 1
        if row.intact() and row.id > gone_from:
            problems.append(AuditProblem(row.id, "deleted",
                                         f"audit {_ids(gone_from, row.id - 1)} deleted: row "
                                         f"{row.id} follows a row that is not there"))
        elif row.intact():
            problems.append(AuditProblem(row.id, "deleted", f"audit rows before row {row.id} "
                                         "were deleted or replaced: its link is broken"))
        else:
            problems.append(AuditProblem(row.id, "inserted", f"audit row {row.id} was inserted "
                                         "or replaced: neither its link nor its hash holds"))
    last_id = rows[-1].id if rows else 0
    if head_id is not None and head_id > last_id:
        problems.append(AuditProblem(head_id, "deleted",
                                     f"audit {_ids(last_id + 1, head_id)} deleted from the end"))
    return len(rows), problems
