"""Turn pydantic's validation errors into problems a technician can act on.

pydantic reports a failed ``[device]`` once per union member (``N2Device``,
``CjAirDevice``); only the member ``profile.device`` names is kept, so an n2
profile is told about n2 settings.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cryoctl.port import DeviceKind
from cryoctl.profile.rules import Problem

__all__ = ["describe_value", "key_path", "problems_from_validation"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MEMBERS = {"N2Device": DeviceKind.N2, "CjAirDevice": DeviceKind.CJ_AIR}

_EXPECTED = {
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
}


def describe_value(value: object) -> str:
    """A short, safe description of a TOML value for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else "a very long integer"
        return f"the integer {text}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return "a date or time"
    return type(value).__name__


def _key(part: str) -> str:
    if _BARE_KEY.fullmatch(part):
        return part
    quoted = json.dumps(part)  # escapes quotes, newlines and control characters
    return quoted if len(quoted) <= 40 else quoted[:36] + '..."'


def key_path(loc: Sequence[int | str]) -> str:
    """``('zones', 2, 'max_dwell_s')`` -> ``zones[2].max_dwell_s``; odd keys quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_key(part)}" if out else _key(part)
    return out


def _declared_device(raw: dict[str, Any]) -> DeviceKind | None:
    meta = raw.get("profile")
    declared = meta.get("device") if isinstance(meta, dict) else None
    try:
        return DeviceKind(declared) if isinstance(declared, str) else None
    except ValueError:
        return None


_SECTIONS = {"profile": "[profile]", "device": "[device]", "session": "[session]",
             "zones": "[[zones]]"}


def _message(error: ErrorDetails, path: str) -> str:
    kind = error["type"]
    value = error.get("input")
    top_level = len(error["loc"]) == 1
    if kind == "missing":
        if top_level and path in _SECTIONS:
            return f"the {_SECTIONS[path]} table is required and missing"
        return "this key is required and missing"
    if kind == "extra_forbidden":
        return "unknown table" if isinstance(value, dict) else "unknown key"
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if path == "zones" and kind == "tuple_type":
            expected = "a list of [[zones]] tables"
        return f"expected {expected}, got {describe_value(value)}"
    if kind == "enum":
        ctx = error.get("ctx") or {}
        return f"{describe_value(value)} is not one of {ctx.get('expected', '?')}"
    if kind == "finite_number":
        return f"expected a finite number, got {describe_value(value)}"
    return str(error["msg"])


def problems_from_validation(exc: ValidationError, raw: dict[str, Any]) -> list[Problem]:
    """One problem per error, keeping only the ``[device]`` member the profile declares."""
    declared = _declared_device(raw)
    problems: list[Problem] = []
    seen: set[Problem] = set()
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if len(loc) >= 2 and loc[0] == "device" and loc[1] in _MEMBERS:
            if _MEMBERS[str(loc[1])] is not declared:
                continue
            del loc[1]
        path = key_path(loc)
        problem = Problem(path, _message(error, path))
        if problem not in seen:
            seen.add(problem)
            problems.append(problem)
    if not problems:
        # Only errors of the [device] member that profile.device does not name were
        # dropped; profile.device is then itself reported. Never refuse without a reason.
        problems.append(Problem("device", "does not match profile.device"))
    return problems
