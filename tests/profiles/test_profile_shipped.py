"""The shipped profiles: all valid, all cited, and as the treatment table specifies."""

from __future__ import annotations

import math
import re

import pytest

from cryoctl.core.port import DeviceKind
from cryoctl.profile import (
    CjAirDevice,
    LoadedProfile,
    N2Device,
    TreatmentKind,
    shipped_profiles,
)
from cryoctl.profile import ceilings as c

#: LN2 flow at 50 kPa per nozzle, g/s (N2 ICD rev C, "Nozzles").
FLOW_G_S_AT_50KPA = {"A": 0.80, "B": 0.55, "C": 0.25, "D": 0.14, "M": 1.00, "P": 0.30}

N2, AIR = DeviceKind.N2, DeviceKind.CJ_AIR
MASSAGE, LESION, COLD = TreatmentKind.CRYOMASSAGE, TreatmentKind.LESION, TreatmentKind.COLD_AIR
FACE = ("forehead", "cheek-left", "cheek-right", "nose-chin", "neck")
SCALP = ("frontal", "crown", "left", "right", "occiput")
AIR_FACE = ("forehead", "cheek-left", "cheek-right", "chin", "neck")

# name: device, kind, nozzle, setting, zone names, (dwell, total, passes, rest, repeat),
#       (max_session_s, min_interval_h, max_course_sessions, requires_cold_test)
TABLE = {
    "n2-face-cryomassage": (N2, MASSAGE, "M", 50, FACE, (3, 20, 2, 30, 1), (420, 48, 15, True)),
    "n2-scalp-cryomassage": (N2, MASSAGE, "M", 50, SCALP, (5, 30, 3, 20, 1), (900, 48, 15, True)),
    "n2-lentigo": (N2, LESION, "D", 50, ("lesion",), (5, 10, 1, 30, 20), (600, 14 * 24, 3, False)),
    "n2-seborrheic-keratosis": (N2, LESION, "C", 60, ("lesion",), (15, 20, 1, 30, 15),
                                (900, 28 * 24, None, False)),
    "n2-common-wart": (N2, LESION, "C", 60, ("wart",), (10, 20, 2, 30, 10),
                       (900, 14 * 24, 6, False)),
    "n2-actinic-keratosis": (N2, LESION, "C", 60, ("lesion",), (10, 20, 2, 30, 15),
                             (900, 42 * 24, None, False)),
    "air-face-tone": (AIR, COLD, "F20", (4, -30, 10, 8, 5), AIR_FACE, (45, 90, 2, 30, 1),
                      (300, 48, 10, False)),
    "air-scalp": (AIR, COLD, "C30", (5, -30, 10, 8, 5), SCALP, (59, 120, 2, 30, 1),
                  (600, 48, 15, False)),
    "air-laser-adjunct": (AIR, COLD, "R10", (3, -30, 20, 17, 12),
                          ("area-first-half", "area-second-half"), (50, 300, 6, 5, 1),
                          (900, None, None, False)),
}

SHIPPED = {p.name: p for p in shipped_profiles()}


def test_the_table_ships_complete() -> None:
    assert sorted(SHIPPED) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_shipped_profile_matches_the_table(name: str) -> None:
    loaded = SHIPPED[name]
    device, kind, nozzle, setting, zones, zone_numbers, session = TABLE[name]
    p = loaded.profile
    assert loaded.source == f"shipped:{name}.toml"
    assert (p.meta.device, p.meta.kind, p.device.nozzle) == (device, kind, nozzle)
    assert p.device_kind is device
    if isinstance(p.device, N2Device):
        assert p.device.pressure_kpa == setting
    else:
        assert isinstance(p.device, CjAirDevice)
        d = p.device
        assert (d.airflow_level, d.outlet_temp_c, d.skin_reduce_c, d.skin_warn_c,
                d.skin_stop_c) == setting
    assert tuple(z.name for z in p.zones) == zones
    for z in p.zones:
        assert (z.max_dwell_s, z.max_total_s, z.passes, z.rest_s, z.repeat) == zone_numbers
    s = p.session
    max_session_s, min_interval_h, course, cold_test = session
    assert s.max_session_s == max_session_s
    if min_interval_h is not None:
        assert s.min_interval_h == min_interval_h
    assert (s.max_course_sessions, s.requires_cold_test) == (course, cold_test)


@pytest.mark.parametrize("loaded", SHIPPED.values(), ids=lambda p: p.name)
def test_shipped_profile_cites_published_sources(loaded: LoadedProfile) -> None:
    refs = loaded.profile.meta.references
    assert len(refs) >= 3
    for ref in refs:
        assert re.search(r"\b(19|20)\d\d\b", ref), ref  # a year of publication
        assert "http" not in ref and "www." not in ref
        assert ref.endswith(".")
    assert loaded.profile.meta.description.strip()


@pytest.mark.parametrize("loaded", SHIPPED.values(), ids=lambda p: p.name)
def test_shipped_checklist_names_the_cold_contraindications(loaded: LoadedProfile) -> None:
    checklist = " ".join(loaded.profile.session.checklist).lower()
    for item in ("cold urticaria", "cryoglobulinemia", "raynaud"):
        assert item in checklist


@pytest.mark.parametrize("loaded", [p for p in SHIPPED.values() if p.profile.device_kind is N2],
                         ids=lambda p: p.name)
def test_cryogen_budget_covers_the_planned_spray_and_fits_the_dewar(
    loaded: LoadedProfile,
) -> None:
    p = loaded.profile
    assert isinstance(p.device, N2Device)
    flow_g_s = FLOW_G_S_AT_50KPA[p.device.nozzle] * math.sqrt(p.device.pressure_kpa / 50)
    planned_s = sum(z.max_total_s * z.repeat for z in p.zones)
    budget = p.session.max_cryogen_g
    assert budget is not None
    assert flow_g_s * planned_s <= budget <= 2 * flow_g_s * planned_s
    assert budget <= c.N2_MAX_CRYOGEN_G


def test_shipped_profiles_returns_a_fresh_list() -> None:
    first = shipped_profiles()
    first.clear()
    assert len(shipped_profiles()) == len(TABLE)
