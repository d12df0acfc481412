"""``cryoctl records`` and ``cryoctl audit verify``: the session records, read-only.

Both read the database file directly, read-only (never through the control
process's writer): ``--db PATH``, or the data folder of ``--config`` (by default
the service config), ``cryoctl.db`` in it. Exit status 0, 1 when the audit trail is
broken or a session is not found, 2 when the database cannot be read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Final

import click

from cryoctl.config import CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, load_config
from cryoctl.errors import ConfigError, RecordsError
from cryoctl.records.audit import verify
from cryoctl.records.queries import parse_utc, session_detail, session_list
from cryoctl.records.schema import DB_NAME, open_read_only

__all__ = ["audit_command", "command"]

EXIT_BROKEN: Final = 1
EXIT_UNREADABLE: Final = 2

_CSV_FIELDS: Final = ("id", "started_utc", "ended_utc", "patient_ref", "device_kind",
                      "profile_name", "profile_version", "profile_sha256", "outcome", "reason",
                      "started_by_role", "spray_s")


def _db_path(db: Path | None, config_path: Path | None) -> Path:
    if db is not None and config_path is not None:
        raise click.UsageError("give --db or --config, not both")
    if db is not None:
        return db
    if config_path is None:
        config_path = Path(os.environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)
    try:
        return load_config(config_path).data.dir / DB_NAME
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(EXIT_UNREADABLE) from None


def _open(db: Path | None, config_path: Path | None) -> sqlite3.Connection:
    path = _db_path(db, config_path)
    try:
        return open_read_only(path)
    except RecordsError as exc:
        click.echo(f"cryoctl: {exc}", err=True)
        raise SystemExit(EXIT_UNREADABLE) from None


_db_option = click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
                          help="The records database (instead of --config).")
_config_option = click.option("--config", "config_path",
                              type=click.Path(path_type=Path, dir_okay=False), default=None,
                              help="Take the data folder from this service config.")


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_utc(value).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise click.BadParameter(f"not a date (YYYY-MM-DD) or time: {value!r}",
                                 param_hint="--since") from None


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no sessions"
    lines = [f"{'started (UTC)':<24} {'patient':<12} {'profile':<28} {'outcome':<12} "
             f"{'spray s':>8}  id"]
    for r in rows:
        p = r["profile"]
        lines.append(f"{r['started_utc']:<24} {r['patient_ref']:<12} "
                     f"{p['name'] + ' v' + str(p['version']):<28} {r['outcome'] or 'running':<12} "
                     f"{r['spray_s']:>8.1f}  {r['id']}")
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        flat = {k: r.get(k) for k in _CSV_FIELDS}
        flat.update(profile_name=r["profile"]["name"], profile_version=r["profile"]["version"],
                    profile_sha256=r["profile"]["sha256"])
        writer.writerow(flat)
    return out.getvalue().rstrip("\n")


def _show_text(s: dict[str, Any]) -> str:
    p = s["profile"]
    lines = [
        f"session   {s['id']}",
        f"patient   {s['patient_ref']}",
        f"profile   {p['name']} v{p['version']} sha256:{p['sha256']}",
        "signed    " + (f"by {p.get('signer')} {p.get('signer_fingerprint')}"
                        if p.get("signed") else "no (unsigned profile)"),
        f"unit      {s['device_kind']} {s['unit'].get('model') or ''} serial "
        f"{s['unit'].get('serial')} firmware {s['unit'].get('firmware')}",
        f"started   {s['started_utc']} by {s['started_by_role']}",
        f"ended     {s['ended_utc'] or '-'}: {s['outcome'] or 'running'}"
        + (f" ({s['reason']})" if s["reason"] else ""),
        f"spray     {s['totals']['spray_s']:.1f} s, LN2 {s['totals']['ln2_g']:.1f} g",
    ]
    if s["override"]:
        lines.append(f"override  by {s['override']['role']}: {s['override']['reason']}")
    for z in s["zones"]:
        lines.append(f"zone {z['index'] + 1:<4} {z['name']}: {z['spray_s']:.1f} s, "
                     f"{z['passes']} passes, {z['ln2_g']:.1f} g")
    for a in s["alarms"]:
        lines.append(f"alarm     {a['raised_utc']} [{(a['priority'] or '').upper()}] {a['code']}"
                     f" {a['text']}")
    return "\n".join(lines)


@click.group("records", invoke_without_command=True)
@click.option("--patient", default=None, help="Only this patient reference.")
@click.option("--since", default=None, help="Only sessions started on or after (UTC date).")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON, as the API answers.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one line per session.")
@_db_option
@_config_option
@click.pass_context
def command(ctx: click.Context, patient: str | None, since: str | None, limit: int,
            as_json: bool, as_csv: bool, db: Path | None, config_path: Path | None) -> None:
    """The session records, newest first (read-only)."""
    ctx.ensure_object(dict)
    ctx.obj["db"], ctx.obj["config_path"] = db, config_path
    if ctx.invoked_subcommand is not None:
        return
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    conn = _open(db, config_path)
    try:
        rows = session_list(conn, patient=patient, since=_since(since), limit=limit)
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps({"sessions": rows}, indent=2, ensure_ascii=False))
    elif as_csv:
        click.echo(_csv(rows))
    else:
        click.echo(_table(rows))


@command.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True)
@_db_option
@_config_option
@click.pass_context
def show(ctx: click.Context, session_id: str, as_json: bool, db: Path | None,
         config_path: Path | None) -> None:
    """One session: unit, profile, dose per zone, sprays, alarms."""
    conn = _open(db or ctx.obj.get("db"), config_path or ctx.obj.get("config_path"))
    try:
        found = session_detail(conn, session_id)
    finally:
        conn.close()
    if found is None:
        click.echo(f"cryoctl: no session {session_id} in the records", err=True)
        raise SystemExit(EXIT_BROKEN)
    click.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else _show_text(found))


@click.group("audit")
def audit_command() -> None:
    """The audit trail."""


@audit_command.command("verify")
@_db_option
@_config_option
def audit_verify(db: Path | None, config_path: Path | None) -> None:
    """Check the audit trail's hash chain; name each edited, inserted or deleted row."""
    conn = _open(db, config_path)
    try:
        count, problems = verify(conn)
    finally:
        conn.close()
    if not problems:
        click.echo(f"audit trail whole: {count} rows")
        return
    for problem in problems:
        click.echo(problem.text)
    click.echo(f"audit trail broken: {len(problems)} problem(s) in {count} rows", err=True)
    raise SystemExit(EXIT_BROKEN)
