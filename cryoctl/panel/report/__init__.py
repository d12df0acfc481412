"""The treatment report: one A4 page of HTML for the patient file, in the panel's language.

Built from one session as ``GET /api/v1/sessions/{id}`` answers it: the profile,
its hash and who signed it, the unit, who started the session and when, the checklist, any
override, the dose per zone (spray seconds, passes, grams of LN2), the alarms and
the outcome. Texts come from ``i18n/LANG.json`` (every key in every language: the
tests check it). Print CSS sizes it to one A4 page. Every value is HTML-escaped.

No PDF: the libraries that turn HTML into PDF pull in system graphics libraries
the device does not carry; a browser's "print to PDF" of this page is the PDF.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any, Final

__all__ = ["LANGUAGES", "catalogue", "render_report"]

LANGUAGES: Final = ("en", "ru")

_CSS: Final = """
@page { size: A4; margin: 15mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #000;
       margin: 0 auto; max-width: 180mm; }
h1 { font-size: 15pt; margin: 0 0 4mm; }
h2 { font-size: 11.5pt; margin: 5mm 0 2mm; border-bottom: 1px solid #000; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 1mm 2mm; vertical-align: top; }
table.grid th, table.grid td { border: 1px solid #555; }
table.grid td.n { text-align: right; }
table.facts th { width: 40%; font-weight: normal; color: #333; }
.outcome-estop, .outcome-fault, .outcome-interrupted { font-weight: bold; }
.sign { margin-top: 10mm; }
@media print { body { max-width: none; } h2 { break-after: avoid; } table { break-inside: avoid; } }
"""


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The report's texts in ``lang`` (``en`` or ``ru``); ValueError for another."""
    if lang not in LANGUAGES:
        raise ValueError(f"no report language {lang!r} (known: {', '.join(LANGUAGES)})")
    text = files("cryoctl.panel.report").joinpath("i18n", f"{lang}.json").read_text("utf-8")
    value: dict[str, str] = json.loads(text)
    return value


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"


def render_report(s: dict[str, Any], *, lang: str, generated_utc: str) -> str:
    """The report of session ``s`` (the session detail's JSON) as one HTML page."""
    t = catalogue(lang)
    p, unit = s["profile"], s.get("unit") or {}
    outcome = s.get("outcome")
    outcome_text = t["running"] if outcome is None else t.get(f"outcome_{outcome}", outcome)
    role = t.get(f"role_{s.get('started_by_role')}", str(s.get("started_by_role")))
    override = s.get("override")
    override_text = (t["none"] if not override else
                     f"{escape(override['reason'])} ({t['override_by']} "
                     f"{escape(t.get('role_' + str(override.get('role')), ''))})")
    confirmed = [k for k, v in (s.get("checklist") or {}).items() if v]
    facts = "".join([
        _row(t["session"], escape(s["id"])),
        _row(t["patient"], f"<strong>{escape(s['patient_ref'])}</strong>"),
        _row(t["profile"], f"{escape(p['name'])}, {t['version']} {escape(str(p['version']))}"),
        _row(t["sha256"], f"<code>{escape(p['sha256'])}</code>"),
        _row(t["signed"], (f"{t['signed_by']} {escape(str(p.get('signer')))}, "
                           f"{t['fingerprint']} <code>{escape(str(p.get('signer_fingerprint')))}"
                           "</code>") if p.get("signed") else escape(t["unsigned"])),
        _row(t["device"], escape(s["device_kind"])),
        _row(t["unit"], f"{escape(str(unit.get('model') or ''))} {t['serial']} "
                        f"{escape(str(unit.get('serial')))}, {t['firmware']} "
                        f"{escape(str(unit.get('firmware')))}"),
        _row(t["started"], escape(s["started_utc"])),
        _row(t["ended"], escape(s.get("ended_utc") or "-")),
        _row(t["started_by"], escape(role)),
        _row(t["duration"], f"{_num(s.get('duration_s'))} {t['s']}"),
        _row(t["treated"], f"{_num(s.get('treated_s'))} {t['s']}"),
        _row(t["outcome"], f'<span class="outcome-{escape(str(outcome))}">'
                           f"{escape(outcome_text)}</span>"),
        _row(t["reason"], escape(s.get("reason") or "-")),
        _row(t["cold_test"], t["yes"] if s.get("cold_test_done") else t["no"]),
        _row(t["override"], override_text),
    ])
    zone_rows = "".join(
        f"<tr><td>{z['index'] + 1}. {escape(z['name'])}</td><td class=n>{_num(z['spray_s'])}</td>"
        f"<td class=n>{z['passes']}</td><td class=n>{z.get('sprays', '')}</td>"
        f"<td class=n>{_num(z['ln2_g'])}</td></tr>" for z in s.get("zones", []))
    totals = s.get("totals") or {}
    zone_rows += (f"<tr><th>{t['total']}</th><td class=n><strong>{_num(totals.get('spray_s'))}"
                  f"</strong></td><td></td><td></td><td class=n><strong>"
                  f"{_num(totals.get('ln2_g'))}</strong></td></tr>")
    alarms = s.get("alarms") or []
    if alarms:
        alarm_rows = "".join(
            f"<tr><td>{escape(str(a.get('text') or a['code']))}</td>"
            f"<td>{escape(t.get('priority_' + str(a.get('priority')), str(a.get('priority'))))}"
            f"</td><td>{escape(str(a.get('raised_utc') or '-'))}</td>"
            f"<td>{escape(str(a.get('acknowledged_utc') or '-'))}</td>"
            f"<td>{escape(str(a.get('cleared_utc') or '-'))}</td></tr>" for a in alarms)
        alarm_table = (f'<table class="grid"><tr><th>{t["alarm"]}</th><th>{t["priority"]}</th>'
                       f"<th>{t['raised']}</th><th>{t['acknowledged']}</th>"
                       f"<th>{t['cleared']}</th></tr>{alarm_rows}</table>")
    else:
        alarm_table = f"<p>{escape(t['no_alarms'])}</p>"
    checklist = "".join(f"<li>{escape(item)}</li>" for item in confirmed)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(t['title'])}: {escape(s['patient_ref'])}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(t['title'])}</h1>"
        f'<table class="facts">{facts}</table>'
        f"<h2>{escape(t['zones'])}</h2>"
        f'<table class="grid"><tr><th>{t["zone"]}</th><th>{t["spray_s"]}</th>'
        f"<th>{t['passes']}</th><th>{t['sprays']}</th><th>{t['ln2_g']}</th></tr>"
        f"{zone_rows}</table>"
        f"<h2>{escape(t['alarms'])}</h2>{alarm_table}"
        f"<h2>{escape(t['checklist'])}</h2><ul>{checklist}</ul>"
        f'<p class="sign">{escape(t["generated"])}: {escape(generated_utc)}. '
        f"{escape(t['signature'])}: ______________________</p>"
        "</body></html>\n"
    )
