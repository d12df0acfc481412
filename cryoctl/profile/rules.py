"""Rules and hard ceilings a profile must obey, each problem with its key path.

Key paths follow the TOML file: ``profile.name``, ``device.nozzle``,
``session.max_session_s``, ``zones[2].max_dwell_s`` (zones counted from 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from cryoctl.profile import ceilings as c
from cryoctl.profile.kinds import DeviceKind
from cryoctl.profile.models import CjAirDevice, N2Device, Profile, TreatmentKind, Zone
from cryoctl.tomlfile import Problem

__all__ = ["KINDS_BY_DEVICE", "Problem", "problems_of"]

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

#: Treatment kinds each unit can give.
KINDS_BY_DEVICE: dict[DeviceKind, tuple[TreatmentKind, ...]] = {
    DeviceKind.N2: (TreatmentKind.CRYOMASSAGE, TreatmentKind.LESION),
    DeviceKind.CJ_AIR: (TreatmentKind.COLD_AIR,),
}


@dataclass(frozen=True, slots=True)
class _Limits:
    """The ceilings that apply to one device and treatment kind."""

    label: str
    nozzles: tuple[str, ...]
    max_dwell_s: float
    max_passes: int
    min_rest_s: float
    max_session_s: float
    #: Why the dwell ceiling is what it is, where the unit itself sets it.
    dwell_why: str = ""


_LIMITS: dict[tuple[DeviceKind, TreatmentKind], _Limits] = {
    (DeviceKind.N2, TreatmentKind.CRYOMASSAGE): _Limits(
        "n2 cryomassage",
        c.N2_CRYOMASSAGE_NOZZLES,
        c.N2_CRYOMASSAGE_MAX_DWELL_S,
        c.N2_CRYOMASSAGE_MAX_PASSES,
        c.N2_CRYOMASSAGE_MIN_REST_S,
        c.N2_CRYOMASSAGE_MAX_SESSION_S,
    ),
    (DeviceKind.N2, TreatmentKind.LESION): _Limits(
        "n2 lesion",
        c.N2_LESION_NOZZLES,
        c.N2_LESION_MAX_DWELL_S,
        c.N2_LESION_MAX_PASSES,
        c.N2_LESION_MIN_REST_S,
        c.N2_LESION_MAX_SESSION_S,
    ),
    (DeviceKind.CJ_AIR, TreatmentKind.COLD_AIR): _Limits(
        "cj-air",
        c.CJAIR_NOZZLES,
        c.CJAIR_MAX_DWELL_S,
        c.PASSES_MAX,
        0.0,
        c.CJAIR_MAX_SESSION_S,
        dwell_why=(
            f" (the unit caps one opening at {c.CJAIR_MAX_OPEN_MS_MAX // 1000} s, MAX_OPEN_MS,"
            f" and the host keeps {c.CJAIR_OPEN_CAP_MARGIN_S:g} s under it)"
        ),
    ),
}


def _num(value: float) -> str:
    return repr(value)


def _above(path: str, value: float, ceiling: float, unit: str, label: str) -> Iterator[Problem]:
    if value > ceiling:
        yield Problem(path, f"{_num(value)} exceeds the ceiling of {ceiling:g} {unit} for {label}")


def _below(path: str, value: float, floor: float, unit: str, label: str) -> Iterator[Problem]:
    if value < floor:
        yield Problem(path, f"{_num(value)} is below the floor of {floor:g} {unit} for {label}")


def _positive(path: str, value: float) -> Iterator[Problem]:
    if not value > 0:
        yield Problem(path, f"{_num(value)} must be greater than 0")


def _text(path: str, value: str) -> Iterator[Problem]:
    if not value.strip():
        yield Problem(path, "must not be empty")


def _slug(path: str, value: str, max_chars: int) -> Iterator[Problem]:
    if not _SLUG.fullmatch(value) or len(value) > max_chars:
        yield Problem(
            path,
            f"{value[:80]!r} is not a slug (lower-case letters, digits and single hyphens, "
            f"at most {max_chars} characters)",
        )


def _meta(p: Profile) -> Iterator[Problem]:
    m = p.meta
    yield from _slug("profile.name", m.name, c.NAME_MAX_CHARS)
    yield from _text("profile.title", m.title)
    yield from _text("profile.description", m.description)
    if not 1 <= m.version <= c.VERSION_MAX:
        yield Problem("profile.version", f"{m.version} must be between 1 and {c.VERSION_MAX}")
    if m.kind not in KINDS_BY_DEVICE[m.device]:
        allowed = ", ".join(KINDS_BY_DEVICE[m.device])
        yield Problem("profile.kind", f"{m.kind.value!r} does not go with device "
                      f"{m.device.value!r} (it gives {allowed})")
    if not m.references:
        yield Problem("profile.references", "must cite at least one source")
    for i, ref in enumerate(m.references):
        yield from _text(f"profile.references[{i}]", ref)


def _n2(d: N2Device, lim: _Limits | None) -> Iterator[Problem]:
    if d.nozzle not in c.N2_NOZZLES:
        yield Problem("device.nozzle", f"{d.nozzle[:20]!r} is not a nozzle of the n2 unit "
                      f"({', '.join(c.N2_NOZZLES)})")
    elif lim is not None and d.nozzle not in lim.nozzles:
        yield Problem("device.nozzle", f"{d.nozzle!r} is not allowed for {lim.label} "
                      f"({', '.join(lim.nozzles)})")
    yield from _below("device.pressure_kpa", d.pressure_kpa, c.N2_PRESSURE_MIN_KPA, "kPa", "n2")
    yield from _above("device.pressure_kpa", d.pressure_kpa, c.N2_PRESSURE_MAX_KPA, "kPa", "n2")


def _cjair(d: CjAirDevice) -> Iterator[Problem]:
    if d.nozzle not in c.CJAIR_NOZZLES:
        yield Problem("device.nozzle", f"{d.nozzle[:20]!r} is not a nozzle of the cj-air unit "
                      f"({', '.join(c.CJAIR_NOZZLES)})")
    lvl = d.airflow_level
    yield from _below("device.airflow_level", lvl, c.CJAIR_AIRFLOW_LEVEL_MIN, "(level)", "cj-air")
    yield from _above("device.airflow_level", lvl, c.CJAIR_AIRFLOW_LEVEL_MAX, "(level)", "cj-air")
    t = d.outlet_temp_c
    yield from _below("device.outlet_temp_c", t, c.CJAIR_OUTLET_TEMP_MIN_C, "°C", "cj-air")
    yield from _above("device.outlet_temp_c", t, c.CJAIR_OUTLET_TEMP_MAX_C, "°C", "cj-air")
    yield from _below("device.skin_stop_c", d.skin_stop_c, c.CJAIR_MIN_SKIN_STOP_C, "°C", "cj-air")
    if not d.skin_stop_c < d.skin_warn_c:
        yield Problem("device.skin_warn_c", f"{_num(d.skin_warn_c)} must be above skin_stop_c "
                      f"({_num(d.skin_stop_c)})")
    if not d.skin_warn_c < d.skin_reduce_c:
        yield Problem("device.skin_reduce_c", f"{_num(d.skin_reduce_c)} must be above skin_warn_c "
                      f"({_num(d.skin_warn_c)})")


def _device(p: Profile, lim: _Limits | None) -> Iterator[Problem]:
    d = p.device
    if isinstance(d, N2Device) and p.meta.device is DeviceKind.N2:
        yield from _n2(d, lim)
    elif isinstance(d, CjAirDevice) and p.meta.device is DeviceKind.CJ_AIR:
        yield from _cjair(d)
    else:
        own = "n2" if isinstance(d, N2Device) else "cj-air"
        yield Problem("device", f"holds {own} settings but profile.device is "
                      f"{p.meta.device.value!r}")


def _session(p: Profile, lim: _Limits | None) -> Iterator[Problem]:
    s = p.session
    yield from _positive("session.max_session_s", s.max_session_s)
    if lim is not None:
        yield from _above("session.max_session_s", s.max_session_s, lim.max_session_s, "s",
                          lim.label)
    if p.meta.device is DeviceKind.N2:
        if s.max_cryogen_g is None:
            yield Problem("session.max_cryogen_g", "is required for n2")
        else:
            yield from _positive("session.max_cryogen_g", s.max_cryogen_g)
            yield from _above("session.max_cryogen_g", s.max_cryogen_g, c.N2_MAX_CRYOGEN_G, "g",
                              "n2 (the dewar's capacity)")
    elif s.max_cryogen_g is not None:
        yield Problem("session.max_cryogen_g", f"is not allowed for {p.meta.device.value}")
    if s.min_interval_h < 0:
        yield Problem("session.min_interval_h", f"{_num(s.min_interval_h)} must not be negative")
    if s.max_course_sessions is not None and not 1 <= s.max_course_sessions <= (
        c.COURSE_SESSIONS_MAX
    ):
        yield Problem("session.max_course_sessions",
                      f"{s.max_course_sessions} must be between 1 and {c.COURSE_SESSIONS_MAX}")
    if not s.checklist:
        yield Problem("session.checklist", "must list at least one contraindication to confirm")
    for i, item in enumerate(s.checklist):
        yield from _text(f"session.checklist[{i}]", item)


def _zone(at: str, z: Zone, lim: _Limits | None, max_session_s: float) -> Iterator[Problem]:
    yield from _slug(f"{at}.name", z.name, c.NAME_MAX_CHARS)
    yield from _positive(f"{at}.max_dwell_s", z.max_dwell_s)
    yield from _positive(f"{at}.max_total_s", z.max_total_s)
    if z.max_dwell_s > z.max_total_s:
        yield Problem(f"{at}.max_dwell_s", f"{_num(z.max_dwell_s)} exceeds max_total_s "
                      f"({_num(z.max_total_s)})")
    if max_session_s > 0 and z.max_total_s > max_session_s:
        yield Problem(f"{at}.max_total_s", f"{_num(z.max_total_s)} exceeds session.max_session_s "
                      f"({_num(max_session_s)})")
    if z.passes < 1:
        yield Problem(f"{at}.passes", f"{z.passes} must be at least 1")
    if z.rest_s < 0 or (z.rest_s == 0 and z.passes > 1):
        yield Problem(f"{at}.rest_s", f"{_num(z.rest_s)} must be greater than 0 "
                      "(it may be 0 only when passes is 1)")
    if not 1 <= z.repeat <= c.REPEAT_MAX:
        yield Problem(f"{at}.repeat", f"{z.repeat} must be between 1 and {c.REPEAT_MAX}")
    if lim is None:
        yield from _above(f"{at}.passes", z.passes, c.PASSES_MAX, "passes", "any zone")
    else:
        yield from _above(
            f"{at}.max_dwell_s", z.max_dwell_s, lim.max_dwell_s, "s", lim.label + lim.dwell_why
        )
        yield from _above(f"{at}.passes", z.passes, lim.max_passes, "passes", lim.label)
        if lim.min_rest_s > 0:
            yield from _below(f"{at}.rest_s", z.rest_s, lim.min_rest_s, "s", lim.label)


def _zones(p: Profile, lim: _Limits | None) -> Iterator[Problem]:
    if not p.zones:
        yield Problem("zones", "at least one zone is required")
    if len(p.zones) > c.ZONES_MAX:
        yield Problem("zones", f"{len(p.zones)} zones exceed the ceiling of {c.ZONES_MAX}")
    seen: set[str] = set()
    for i, z in enumerate(p.zones):
        at = f"zones[{i}]"
        if z.name in seen:
            yield Problem(f"{at}.name", f"{z.name[:80]!r} is used by an earlier zone")
        seen.add(z.name)
        yield from _zone(at, z, lim, p.session.max_session_s)


def problems_of(profile: Profile) -> list[Problem]:
    """Every rule and ceiling ``profile`` breaks, in file order; empty when it is sound."""
    lim = _LIMITS.get((profile.meta.device, profile.meta.kind))
    return [
        *_meta(profile),
        *_device(profile, lim),
        *_session(profile, lim),
        *_zones(profile, lim),
    ]
