"""The treatment core's rules, one small pure function each.

Each answers a question about a status (or the session's numbers) with ``None``
when all is well and a short reason otherwise, so the refusals the panel shows
and the guards the machine evaluates are the same text. Nothing here keeps
state or reads a clock.
"""

from __future__ import annotations

import operator

from cryoctl.core.port import Capabilities, DeviceKind, Expiry, Status
from cryoctl.core.units import O2_FAULT_PCT, O2_LOW_PCT, ln2_flow_g_s
from cryoctl.profile import CjAirDevice, N2Device, Profile, ceilings

__all__ = [
    "BUDGET_EPS_S",
    "ECHO_MAX_AGE_S",
    "FEEDBACK_LAG_S",
    "FROZEN_AFTER_S",
    "FROZEN_TIP_BAND_C",
    "LINK_GRACE_S",
    "LOST_PERIODS",
    "NO_FLOW_AFTER_S",
    "NO_FLOW_TIP_C",
    "SKIN_NO_READING_S",
    "STALE_PERIODS",
    "STUCK_CHECK_AFTER_S",
    "TELEMETRY_MAX_AGE_S",
    "cryogen_flow_g_s",
    "fresh",
    "implausible",
    "nozzle_matches",
    "open_cap_ms",
    "oxygen",
    "oxygen_fault",
    "profile_fits",
    "skin_band",
    "unit_ready",
]

#: Data older than this many control periods is stale: no spray on it.
STALE_PERIODS = 2
#: Telemetry (O2, temperatures, nozzle, fault bits) older than this is stale, or
#: older than STALE_PERIODS when that is longer: these change in seconds, not in
#: one control period, and a slow line reads them in a table of their own.
TELEMETRY_MAX_AGE_S = 0.3
#: The unit's heartbeat echo (CJ-Air) may lag the heartbeat written this long: it is
#: read with the telemetry (every 200 ms) and heartbeats go out every 100 ms.
ECHO_MAX_AGE_S = 0.5
#: N2 tip: a reading that holds to the last digit this long while it must move (in a
#: spray or within STUCK_CHECK_AFTER_S of a close, between these temperatures) is a
#: frozen link or sensor.
FROZEN_AFTER_S = 1.0
FROZEN_TIP_BAND_C = (-190.0, 15.0)
#: No answer for longer than this many control periods, and a request failed in that
#: time: the link is lost (the host's own stall, nothing asked, is not).
LOST_PERIODS = 3
#: A session held through a lost link ends as interrupted when the link stays gone
#: longer than this (the daemon's config may set another).
LINK_GRACE_S = 10.0
#: CJ-Air valve feedback must follow the command within this time.
FEEDBACK_LAG_S = 0.1
#: N2 tip must be below NO_FLOW_TIP_C this long after a spray starts.
NO_FLOW_AFTER_S = 2.0
NO_FLOW_TIP_C = -100.0
#: After a close, the tip must have started to warm by this time.
STUCK_CHECK_AFTER_S = 5.0
#: Warming (degrees) that shows the flow stopped; less means "still falling".
STUCK_MIN_RISE_C = 1.0
#: A tip colder than this after a close still has cryogen on it.
STUCK_COLD_TIP_C = -50.0
#: CJ-Air: longest gap in skin readings while spraying.
SKIN_NO_READING_S = 1.0
#: Budgets below this are used up (float round-off, not a dose).
BUDGET_EPS_S = 1e-6
#: N2: pressure within this fraction of the set-point, dewar at least this full.
PRESSURE_TOLERANCE = 0.10
MIN_DEWAR_LEVEL_PCT = 10.0

#: Plausible ranges of readings (outside: a sensor or data fault).
_PLAUSIBLE: dict[str, tuple[float, float]] = {
    "o2_pct": (0.0, 100.0),
    "tip_temp_c": (-200.0, 60.0),
    "skin_temp_c": (-60.0, 60.0),
    "outlet_temp_c": (-100.0, 60.0),
    "pressure_kpa": (-10.0, 250.0),
    "dewar_level_pct": (0.0, 100.0),
}
_RANGES = tuple((name, low, high) for name, (low, high) in _PLAUSIBLE.items())
_readings = operator.attrgetter(*_PLAUSIBLE)


def profile_fits(profile: Profile, caps: Capabilities) -> str | None:
    """The profile was written for the attached kind of unit and one of its nozzles."""
    if profile.device_kind is not caps.kind:
        return f"profile is for {profile.device_kind.value}, unit is {caps.kind.value}"
    if profile.device.nozzle not in caps.nozzles:
        return f"unit has no nozzle {profile.device.nozzle!r}"
    if caps.kind is DeviceKind.N2 and profile.device.nozzle not in caps.nozzle_flow_g_s_at_50kpa:
        return f"no flow figure for nozzle {profile.device.nozzle!r}"
    return None


def cryogen_flow_g_s(profile: Profile, caps: Capabilities) -> float:
    """LN2 flow while open at the profile's set pressure (0 for cold air)."""
    device = profile.device
    if not isinstance(device, N2Device):
        return 0.0
    return ln2_flow_g_s(caps.nozzle_flow_g_s_at_50kpa[device.nozzle], device.pressure_kpa)


def fresh(status: Status | None, now: float, period_s: float) -> str | None:
    """Each group of fields judged by its own age (see :mod:`cryoctl.core.port`)."""
    if status is None:
        return "no data from the unit"
    limit_s = STALE_PERIODS * period_s
    age_s = now - status.read_at_s
    if age_s > limit_s:
        return f"unit data {age_s:.3f} s old"
    telemetry_age_s = now - status.telemetry_at_s
    if telemetry_age_s > max(TELEMETRY_MAX_AGE_S, limit_s):
        return f"unit readings (oxygen, temperatures, nozzle) {telemetry_age_s:.3f} s old"
    echo_at_s = status.echo_at_s
    if echo_at_s is not None and now - echo_at_s > max(ECHO_MAX_AGE_S, limit_s):
        return "the unit's readings stopped following the host (heartbeat echo behind)"
    return None


def open_cap_ms(profile: Profile | None, zone: int | None, caps: Capabilities) -> int | None:
    """The unit's own cap on one opening wanted now: the zone's dwell plus the margin.

    None where each open is a lease (N2). Outside a session (``zone`` None) the
    smallest cap the unit takes: nothing should open then.
    """
    if caps.expiry is not Expiry.COIL:
        return None
    if profile is None or zone is None:
        return ceilings.CJAIR_MAX_OPEN_MS_MIN
    dwell_s = profile.zones[zone].max_dwell_s
    wanted_ms = round((dwell_s + ceilings.CJAIR_OPEN_CAP_MARGIN_S) * 1000)
    return min(max(wanted_ms, ceilings.CJAIR_MAX_OPEN_MS_MIN), ceilings.CJAIR_MAX_OPEN_MS_MAX)


def implausible(status: Status) -> str | None:
    for value, (name, low, high) in zip(_readings(status), _RANGES, strict=True):
        if value is not None and not low <= value <= high:  # NaN fails both tests
            return f"implausible {name} {value!r}"
    return None


def oxygen(status: Status) -> str | None:
    """Oxygen low enough to stop spraying (or no reading at all)."""
    if status.o2_pct is None:
        return "no oxygen reading"
    if status.o2_pct < O2_LOW_PCT:
        return f"oxygen {status.o2_pct:.1f} % below {O2_LOW_PCT} %"
    return None


def oxygen_fault(status: Status) -> bool:
    return status.o2_pct is not None and status.o2_pct < O2_FAULT_PCT


def nozzle_matches(profile: Profile, status: Status) -> str | None:
    if status.nozzle != profile.device.nozzle:
        return f"nozzle {status.nozzle!r} fitted, profile needs {profile.device.nozzle!r}"
    return None


def unit_ready(profile: Profile, status: Status) -> str | None:
    device = profile.device
    if isinstance(device, CjAirDevice):
        return None if status.cooler_ready else "cooler not ready"
    if status.pressure_kpa is None or status.dewar_level_pct is None:
        return "no pressure or dewar reading"
    if abs(status.pressure_kpa - device.pressure_kpa) > PRESSURE_TOLERANCE * device.pressure_kpa:
        return f"pressure {status.pressure_kpa:.0f} kPa, set {device.pressure_kpa:.0f} kPa"
    if status.dewar_level_pct < MIN_DEWAR_LEVEL_PCT:
        return f"dewar at {status.dewar_level_pct:.0f} %"
    return None


def skin_band(device: CjAirDevice, skin_c: float) -> str:
    """Which band a skin reading is in: "stop", "warn", "reduce" or "ok"."""
    if skin_c <= device.skin_stop_c:
        return "stop"
    if skin_c < device.skin_warn_c:
        return "warn"
    if skin_c < device.skin_reduce_c:
        return "reduce"
    return "ok"
