"""``cryoctl status``: what the control process shows now, through the control socket.

One readable screen: the state, the unit, the profile, the session (zone, site,
pass, the times left), the unit's readings with their ages, the alarms and why a
spray may not start. ``--json`` prints the raw snapshot instead (the shape of
:class:`cryoctl.core.snapshot.Snapshot`). Exit status 2 with one line when the
control process cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from cryoctl.cli._socket import EXIT_UNREACHABLE, socket_options, socket_path
from cryoctl.client import ControlClient
from cryoctl.errors import ControlUnavailable, RequestRejected

__all__ = ["command", "format_snapshot"]

_PRIORITIES = {1: "LOW", 2: "MEDIUM", 3: "HIGH"}


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}{unit}"
    return str(value)


def _seconds(value: Any) -> str:
    return _num(value, " s")


def _yes(value: Any, yes: str, no: str) -> str:
    return "-" if value is None else (yes if value else no)


def _unit_lines(unit: Mapping[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = [
        ("valve", _yes(unit.get("valve_reported_open"), "OPEN", "closed")
         + (f" (feedback {_yes(unit['valve_feedback'], 'open', 'closed')})"
            if unit.get("valve_feedback") is not None else "")),
        ("trigger", _yes(unit.get("trigger"), "pressed", "released")),
        ("e-stop", _yes(unit.get("estop_latched"), "LATCHED", "not latched")),
        ("nozzle", unit.get("nozzle") or "none"),
        ("faults", ", ".join(unit.get("faults") or []) or "none"),
    ]
    for key, label, suffix in (
        ("o2_pct", "O2", " %"),
        ("tip_temp_c", "tip", " °C"),
        ("outlet_temp_c", "outlet", " °C"),
        ("skin_temp_c", "skin", " °C"),
        ("pressure_kpa", "pressure", " kPa"),
        ("dewar_level_pct", "dewar", " %"),
    ):
        if unit.get(key) is not None:
            rows.append((label, _num(unit[key], suffix)))
    if unit.get("airflow_level") is not None:
        rows.append(("airflow", f"level {unit['airflow_level']}"))
    for key, label, yes, no in (("cooler_ready", "cooler", "ready", "not ready"),
                                ("hose_connected", "hose", "connected", "NOT connected")):
        if unit.get(key) is not None:
            rows.append((label, _yes(unit[key], yes, no)))
    ages = (f"ages: fast {_seconds(unit.get('fast_age_s'))}, valve "
            f"{_seconds(unit.get('valve_age_s'))}, telemetry "
            f"{_seconds(unit.get('telemetry_age_s'))}")
    return [f"readings  {ages}", *(f"  {name:<10}{value}" for name, value in rows)]


def _session_lines(s: Mapping[str, Any]) -> list[str]:
    doing = "spraying" if s.get("spraying") else ("paused" if s.get("paused") else "not spraying")
    lines = [
        f"session   #{s.get('session_id')}: zone {s.get('zone', 0) + 1}/{s.get('zone_count')} "
        f"{s.get('zone_name')}, site {s.get('site', 0) + 1}/{s.get('site_count')}, "
        f"pass {s.get('passes_done')}/{s.get('passes_allowed')}; {doing}",
    ]
    left = [f"zone {_seconds(s.get('zone_left_s'))}",
            f"session {_seconds(s.get('session_left_s'))}"]
    if s.get("spray_left_s") is not None:
        left.insert(0, f"this spray {_seconds(s['spray_left_s'])}")
    if s.get("rest_left_s"):
        left.append(f"rest {_seconds(s['rest_left_s'])}")
    lines.append(f"  left    {', '.join(left)}; elapsed {_seconds(s.get('elapsed_s'))}")
    return lines


def _alarm_lines(alarms: Mapping[str, Any], now_s: float) -> list[str]:
    active = alarms.get("alarms") or []
    if not active:
        return ["alarms    none"]
    lines = [f"alarms    {len(active)} active" + (", audio on" if alarms.get("audio_active")
                                                   else "")]
    for a in active:
        flags = [f for f, on in (("acknowledged", a.get("acknowledged")),
                                 ("cause gone", not a.get("condition_present"))) if on]
        since = now_s - a["raised_at_s"] if isinstance(a.get("raised_at_s"), int | float) else None
        detail = f" ({a['detail']})" if a.get("detail") else ""
        lines.append(f"  [{_PRIORITIES.get(a.get('priority'), a.get('priority'))}] "
                     f"{a.get('code')}: {a.get('message')}{detail}"
                     f"{'; ' + ', '.join(flags) if flags else ''}"
                     f"{f'; raised {since:.1f} s ago' if since is not None else ''}")
    return lines


def format_snapshot(snap: Mapping[str, Any]) -> list[str]:
    """A snapshot (as JSON) as the lines of one screen."""
    flags = ["healthy" if snap.get("healthy") else "NOT healthy (no heartbeats)"]
    if snap.get("close_pending"):
        flags.append("close not yet confirmed")
    lines = [f"state     {snap.get('phase')}  ({', '.join(flags)})"]
    ident = snap.get("identity")
    if ident:
        lines.append(f"unit      {ident.get('model')} {ident.get('serial')} firmware "
                     f"{ident.get('firmware')} at {ident.get('url')}")
    prof = snap.get("profile")
    if prof:
        signed = (f"signed by {prof.get('signer')} {prof.get('signer_fingerprint')}"
                  if prof.get("signed") else "unsigned")
        lines.append(f"profile   {prof.get('name')} v{prof.get('version')} "
                     f"\"{prof.get('title')}\" sha256:{str(prof.get('sha256'))[:12]} {signed}")
    else:
        lines.append("profile   none loaded")
    session = snap.get("session")
    lines += _session_lines(session) if session else ["session   none"]
    unit = snap.get("unit")
    lines += _unit_lines(unit) if unit else ["readings  none yet"]
    now_s = snap.get("at_s")
    lines += _alarm_lines(snap.get("alarms") or {}, now_s if isinstance(now_s, float) else 0.0)
    for i, reason in enumerate(snap.get("refusals") or []):
        lines.append(f"{'no spray' if i == 0 else '':<10}{reason}")
    return lines


async def _status(path: Path, timeout_s: float) -> dict[str, Any]:
    async with ControlClient(path, timeout_s=timeout_s) as client:
        return await client.status()


@click.command("status")
@socket_options
@click.option("--json", "as_json", is_flag=True, help="Print the raw snapshot as JSON.")
def command(socket: Path | None, config_path: Path | None, timeout_ms: int,
            as_json: bool) -> None:
    """Show the state, session, unit readings and alarms of the control process."""
    path = socket_path(socket, config_path)
    try:
        snap = asyncio.run(_status(path, timeout_ms / 1000))
    except (ControlUnavailable, RequestRejected) as exc:
        click.echo(f"cryoctl status: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    if as_json:
        click.echo(json.dumps(snap, indent=2, ensure_ascii=False))
    else:
        for line in format_snapshot(snap):
            click.echo(line)
