"""Reading the records: sessions as the API and the CLI show them, and a patient's history.

Every function takes a connection (read-only is enough) and answers plain JSON
values, in the shapes of ``GET /api/v1/sessions`` and ``GET /api/v1/sessions/{id}``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["MAX_LIST", "parse_utc", "patient_history", "session_detail", "session_list"]

#: The most sessions one list answers.
MAX_LIST: Final = 500

_LIST_COLUMNS: Final = (
    "id, profile_name, profile_version, profile_sha256, device_kind, patient_ref, started_utc, "
    "ended_utc, outcome, reason, started_by_role, spray_s, profile_signed, profile_signer, "
    "profile_signer_fingerprint")


def parse_utc(text: str) -> datetime:
    """A records time (or an ISO date, UTC unless it names its offset) in UTC; ValueError else."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _brief(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "profile": {"name": row["profile_name"], "version": row["profile_version"],
                    "sha256": row["profile_sha256"], "signed": bool(row["profile_signed"]),
                    "signer": row["profile_signer"],
                    "signer_fingerprint": row["profile_signer_fingerprint"]},
        "device_kind": row["device_kind"],
        "patient_ref": row["patient_ref"],
        "started_utc": row["started_utc"],
        "ended_utc": row["ended_utc"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "started_by_role": row["started_by_role"],
        "spray_s": round(float(row["spray_s"]), 3),
    }


def session_list(conn: sqlite3.Connection, *, patient: str | None = None,
                 since: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions, newest first; ``since`` is a records time or an ISO date (UTC)."""
    where, args = [], []
    if patient:
        where.append("patient_ref = ?")
        args.append(patient)
    if since:
        where.append("started_utc >= ?")
        args.append(since)
    sql = f"SELECT {_LIST_COLUMNS} FROM sessions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_utc DESC, rowid DESC LIMIT ?"
    args.append(str(max(1, min(limit, MAX_LIST))))
    conn.row_factory = sqlite3.Row
    return [_brief(r) for r in conn.execute(sql, args)]


def _alarms(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT at_utc, code, priority, event, detail, text FROM alarm_log "
                        "WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
    out: list[dict[str, Any]] = []
    for row in rows:
        event, code = row["event"], row["code"]
        if event == "raised":
            out.append({"code": code, "priority": row["priority"], "raised_utc": row["at_utc"],
                        "acknowledged_utc": None, "cleared_utc": None,
                        "text": row["text"], "detail": row["detail"]})
            continue
        for alarm in reversed(out):
            if alarm["code"] != code and code is not None:
                continue
            if event == "acknowledged" and alarm["acknowledged_utc"] is None:
                alarm["acknowledged_utc"] = row["at_utc"]
            elif event in ("cleared", "removed") and alarm["cleared_utc"] is None:
                alarm["cleared_utc"] = row["at_utc"]
            elif event == "audio_paused":
                alarm.setdefault("audio_paused_utc", row["at_utc"])
            if code is not None:
                break
    return out


def session_detail(conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    """One session with its unit, checklist, override, dose per zone and site, sprays, alarms."""
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    out = _brief(row)
    out["unit"] = {"model": row["unit_model"], "serial": row["unit_serial"],
                   "firmware": row["unit_firmware"]}
    out["checklist"] = json.loads(row["checklist_json"])
    out["cold_test_done"] = bool(row["cold_test_done"])
    out["override"] = (None if row["override_reason"] is None else
                       {"reason": row["override_reason"], "role": row["override_role"]})
    out["duration_s"] = round(float(row["duration_s"]), 3)
    out["treated_s"] = round(float(row["treated_s"]), 3)
    out["started_by_token"] = row["started_by_token"]
    sprays = [
        {"zone": s["zone_index"], "site": s["site_index"], "start_s": round(s["start_s"], 3),
         "end_s": None if s["end_s"] is None else round(s["end_s"], 3),
         "ended_by": s["ended_by"]}
        for s in conn.execute("SELECT zone_index, site_index, start_s, end_s, ended_by "
                              "FROM sprays WHERE session_id = ? ORDER BY id", (session_id,))
    ]
    zones = []
    for z in conn.execute("SELECT zone_index, zone_name, spray_s, passes, sprays, ln2_g "
                          "FROM zone_doses WHERE session_id = ? ORDER BY zone_index",
                          (session_id,)):
        sites: dict[int, dict[str, Any]] = {}
        for s in sprays:
            if s["zone"] != z["zone_index"] or s["end_s"] is None:
                continue
            site = sites.setdefault(s["site"], {"index": s["site"], "spray_s": 0.0, "sprays": 0})
            site["spray_s"] = round(site["spray_s"] + s["end_s"] - s["start_s"], 3)
            site["sprays"] += 1
        zones.append({"index": z["zone_index"], "name": z["zone_name"],
                      "spray_s": round(z["spray_s"], 3), "passes": z["passes"],
                      "sprays": z["sprays"], "ln2_g": round(z["ln2_g"], 3),
                      "sites": [sites[k] for k in sorted(sites)]})
    out["zones"] = zones
    out["sprays"] = sprays
    out["alarms"] = _alarms(conn, session_id)
    out["totals"] = {"spray_s": round(float(row["spray_s"]), 3),
                     "ln2_g": round(float(row["ln2_g"]), 3)}
    return out


def patient_history(conn: sqlite3.Connection, patient_ref: str, profile_name: str
                    ) -> list[datetime]:
    """When this patient's sessions with this profile that delivered cold began."""
    rows = conn.execute("SELECT started_utc FROM sessions WHERE patient_ref = ? AND "
                        "profile_name = ? AND spray_s > 0 ORDER BY started_utc",
                        (patient_ref, profile_name)).fetchall()
    return [parse_utc(str(r[0])) for r in rows]
