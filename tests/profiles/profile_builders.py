"""Profiles as plain dicts, and a small TOML writer for them (tests only)."""

from __future__ import annotations

import copy
import math
from typing import Any

N2_CRYOMASSAGE: dict[str, Any] = {
    "profile": {
        "name": "test-n2-cryomassage",
        "title": "Test cryomassage",
        "version": 1,
        "device": "n2",
        "kind": "cryomassage",
        "description": "A profile built by the tests.",
        "references": ["Kuflik EG. Cryosurgery updated. J Am Acad Dermatol. 1994;31(6):925-944."],
    },
    "device": {"nozzle": "M", "pressure_kpa": 50},
    "session": {
        "max_session_s": 600,
        "max_cryogen_g": 150,
        "min_interval_h": 48,
        "max_course_sessions": 15,
        "requires_cold_test": True,
        "checklist": ["No cold urticaria"],
    },
    "zones": [
        {"name": "forehead", "max_dwell_s": 3, "max_total_s": 40, "passes": 2, "rest_s": 30},
        {"name": "cheek", "max_dwell_s": 3, "max_total_s": 40, "passes": 2, "rest_s": 30},
    ],
}

N2_LESION: dict[str, Any] = copy.deepcopy(N2_CRYOMASSAGE)
N2_LESION["profile"].update(name="test-n2-lesion", kind="lesion")
N2_LESION["device"] = {"nozzle": "C", "pressure_kpa": 60}
N2_LESION["session"]["requires_cold_test"] = False
N2_LESION["zones"] = [
    {"name": "lesion", "max_dwell_s": 10, "max_total_s": 40, "passes": 2, "rest_s": 30,
     "repeat": 10},
]

CJ_AIR: dict[str, Any] = copy.deepcopy(N2_CRYOMASSAGE)
CJ_AIR["profile"].update(name="test-cj-air", device="cj-air", kind="cold-air")
CJ_AIR["device"] = {
    "nozzle": "F20",
    "airflow_level": 4,
    "outlet_temp_c": -30,
    "skin_reduce_c": 10,
    "skin_warn_c": 8,
    "skin_stop_c": 5,
}
del CJ_AIR["session"]["max_cryogen_g"]
CJ_AIR["zones"] = [
    {"name": "forehead", "max_dwell_s": 45, "max_total_s": 200, "passes": 2, "rest_s": 30},
]

BASES = {"n2-cryomassage": N2_CRYOMASSAGE, "n2-lesion": N2_LESION, "cj-air": CJ_AIR}


def base(kind: str) -> dict[str, Any]:
    return copy.deepcopy(BASES[kind])


def set_path(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set ``zones[0].max_dwell_s`` / ``device.nozzle`` style paths in place; returns doc."""
    section, _, key = path.partition(".")
    if section.endswith("]"):
        name, index = section[:-1].split("[")
        doc[name][int(index)][key] = value
    else:
        doc[section][key] = value
    return doc


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii() else (
        _string(key)
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(doc: dict[str, Any]) -> str:
    """TOML text for a document of scalars, lists, tables and arrays of tables."""
    lines: list[str] = []
    tables = []
    for key, value in doc.items():
        if isinstance(value, dict) or _is_table_array(value):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables:
        entries = value if isinstance(value, list) else [value]
        header = f"[[{_key(key)}]]" if isinstance(value, list) else f"[{_key(key)}]"
        for entry in entries:
            lines.append("")
            lines.append(header)
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"
