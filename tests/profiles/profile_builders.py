"""Profiles as plain dicts, written as TOML by :mod:`toml_text` (tests only)."""

from __future__ import annotations

import copy
from typing import Any

from toml_text import to_toml

__all__ = ["BASES", "base", "set_path", "to_toml"]

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
