"""Turn pydantic's validation errors into problems a technician can act on.

pydantic reports a failed ``[device]`` once per union member (``N2Device``,
``CjAirDevice``); only the member ``profile.device`` names is kept, so an n2
profile is told about n2 settings. The wording is :mod:`cryoctl.tomlfile`'s, shared
with the service config.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cryoctl.profile.kinds import DeviceKind
from cryoctl.tomlfile import Problem, describe_value, key_path
from cryoctl.tomlfile import problems_from_validation as _problems

__all__ = ["describe_value", "key_path", "problems_from_validation"]

_MEMBERS = {"N2Device": DeviceKind.N2, "CjAirDevice": DeviceKind.CJ_AIR}

_SECTIONS = {"profile": "[profile]", "device": "[device]", "session": "[session]",
             "zones": "[[zones]]"}


def _declared_device(raw: dict[str, Any]) -> DeviceKind | None:
    meta = raw.get("profile")
    declared = meta.get("device") if isinstance(meta, dict) else None
    try:
        return DeviceKind(declared) if isinstance(declared, str) else None
    except ValueError:
        return None


def problems_from_validation(exc: ValidationError, raw: dict[str, Any]) -> list[Problem]:
    """One problem per error, keeping only the ``[device]`` member the profile declares."""
    declared = _declared_device(raw)

    def relocate(loc: list[int | str]) -> list[int | str] | None:
        if len(loc) >= 2 and loc[0] == "device" and loc[1] in _MEMBERS:
            if _MEMBERS[str(loc[1])] is not declared:
                return None
            del loc[1]
        return loc

    problems = _problems(exc, tables=_SECTIONS, relocate=relocate)
    if not problems:
        # Only errors of the [device] member that profile.device does not name were
        # dropped; profile.device is then itself reported. Never refuse without a reason.
        problems.append(Problem("device", "does not match profile.device"))
    return problems
