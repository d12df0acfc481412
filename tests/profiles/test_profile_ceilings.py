"""Every hard ceiling holds: a profile is accepted at and inside it, refused just beyond.

Each case builds a sound profile of one kind, moves one value, and checks both doors:
the loader (TOML bytes) and building the model directly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_builders import base, set_path, to_toml
from pydantic import ValidationError

from cryoctl.errors import ProfileError
from cryoctl.profile import Profile, parse_profile
from cryoctl.profile import ceilings as c


@dataclass(frozen=True)
class Case:
    kind: str
    path: str
    limit: float
    #: "max": values above the limit are refused; "min": values below it.
    side: str
    #: The far end of the accepted range (other rules hold inside it).
    inner: float
    #: Text the refusal must contain.
    says: str
    integer: bool = False

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.path}:{self.side}"


CASES = [
    # n2 cryomassage
    Case("n2-cryomassage", "zones[0].max_dwell_s", c.N2_CRYOMASSAGE_MAX_DWELL_S, "max", 0.1,
         "exceeds the ceiling of 5 s for n2 cryomassage"),
    Case("n2-cryomassage", "zones[0].passes", c.N2_CRYOMASSAGE_MAX_PASSES, "max", 1,
         "exceeds the ceiling of 3 passes for n2 cryomassage", integer=True),
    Case("n2-cryomassage", "zones[0].rest_s", c.N2_CRYOMASSAGE_MIN_REST_S, "min", 600,
         "is below the floor of 20 s for n2 cryomassage"),
    Case("n2-cryomassage", "session.max_session_s", c.N2_CRYOMASSAGE_MAX_SESSION_S, "max", 40,
         "exceeds the ceiling of 1200 s for n2 cryomassage"),
    # n2 lesion
    Case("n2-lesion", "zones[0].max_dwell_s", c.N2_LESION_MAX_DWELL_S, "max", 0.1,
         "exceeds the ceiling of 30 s for n2 lesion"),
    Case("n2-lesion", "zones[0].passes", c.N2_LESION_MAX_PASSES, "max", 1,
         "exceeds the ceiling of 3 passes for n2 lesion", integer=True),
    Case("n2-lesion", "zones[0].rest_s", c.N2_LESION_MIN_REST_S, "min", 600,
         "is below the floor of 30 s for n2 lesion"),
    Case("n2-lesion", "session.max_session_s", c.N2_LESION_MAX_SESSION_S, "max", 40,
         "exceeds the ceiling of 1800 s for n2 lesion"),
    # n2, any kind
    Case("n2-lesion", "device.pressure_kpa", c.N2_PRESSURE_MAX_KPA, "max", 20,
         "exceeds the ceiling of 150 kPa for n2"),
    Case("n2-cryomassage", "device.pressure_kpa", c.N2_PRESSURE_MIN_KPA, "min", 150,
         "is below the floor of 20 kPa for n2"),
    Case("n2-cryomassage", "session.max_cryogen_g", c.N2_MAX_CRYOGEN_G, "max", 0.5,
         "exceeds the ceiling of 400 g for n2 (the dewar's capacity)"),
    # cj-air
    Case("cj-air", "device.outlet_temp_c", c.CJAIR_OUTLET_TEMP_MAX_C, "max", -60,
         "exceeds the ceiling of -20 °C for cj-air"),
    Case("cj-air", "device.outlet_temp_c", c.CJAIR_OUTLET_TEMP_MIN_C, "min", -20,
         "is below the floor of -60 °C for cj-air"),
    Case("cj-air", "zones[0].max_dwell_s", c.CJAIR_MAX_DWELL_S, "max", 0.1,
         "exceeds the ceiling of 59.5 s for cj-air (the unit caps one opening at 60 s, "
         "MAX_OPEN_MS, and the host keeps 0.5 s under it)"),
    Case("cj-air", "session.max_session_s", c.CJAIR_MAX_SESSION_S, "max", 200,
         "exceeds the ceiling of 1200 s for cj-air"),
    Case("cj-air", "device.skin_stop_c", c.CJAIR_MIN_SKIN_STOP_C, "min", 7.9,
         "is below the floor of 2 °C for cj-air"),
    Case("cj-air", "device.airflow_level", c.CJAIR_AIRFLOW_LEVEL_MAX, "max", 1,
         "exceeds the ceiling of 9 (level) for cj-air", integer=True),
    Case("cj-air", "device.airflow_level", c.CJAIR_AIRFLOW_LEVEL_MIN, "min", 9,
         "is below the floor of 1 (level) for cj-air", integer=True),
    Case("cj-air", "zones[0].passes", c.PASSES_MAX, "max", 1,
         "exceeds the ceiling of 10 passes for cj-air", integer=True),
    # every profile
    Case("n2-lesion", "zones[0].repeat", c.REPEAT_MAX, "max", 1, "must be between 1 and 50",
         integer=True),
    Case("cj-air", "session.max_course_sessions", c.COURSE_SESSIONS_MAX, "max", 1,
         "must be between 1 and 60", integer=True),
]


def _doc(case: Case, value: float) -> dict[str, Any]:
    return set_path(base(case.kind), case.path, int(value) if case.integer else value)


def _refused(case: Case, value: float) -> None:
    doc = _doc(case, value)
    with pytest.raises(ProfileError) as refused:
        parse_profile(to_toml(doc).encode(), source="t.toml")
    assert any(p.startswith("t.toml:") and f"{case.path}: " in p and case.says in p
               for p in refused.value.problems), refused.value.problems
    with pytest.raises(ValidationError, match=re.escape(case.says)):
        Profile.model_validate(doc)


def _accepted(case: Case, value: float) -> None:
    doc = _doc(case, value)
    loaded = parse_profile(to_toml(doc).encode(), source="t.toml")
    section, _, key = case.path.partition(".")
    model = loaded.profile.zones[0] if section == "zones[0]" else getattr(
        loaded.profile, section)
    assert getattr(model, key) == value
    Profile.model_validate(doc)


def _beyond(case: Case) -> float:
    if case.integer:
        return case.limit + (1 if case.side == "max" else -1)
    return math.nextafter(case.limit, math.inf if case.side == "max" else -math.inf)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_accepted_at_the_limit_and_refused_just_beyond(case: Case) -> None:
    _accepted(case, case.limit)
    _refused(case, _beyond(case))


def _values(case: Case, *, inside: bool) -> st.SearchStrategy[float]:
    lo, hi = sorted((case.limit, case.inner))
    if inside:
        return st.integers(int(lo), int(hi)) if case.integer else st.floats(lo, hi)
    if case.integer:
        beyond = st.integers(1, 1000)
        return beyond.map(lambda d: case.limit + d if case.side == "max" else case.limit - d)
    span = 50.0
    if case.side == "max":
        return st.floats(case.limit, case.limit + span, exclude_min=True)
    return st.floats(case.limit - span, case.limit, exclude_max=True)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@settings(max_examples=40)
@given(data=st.data())
def test_accepted_inside_refused_beyond(case: Case, data: st.DataObject) -> None:
    _accepted(case, data.draw(_values(case, inside=True), label="inside"))
    _refused(case, data.draw(_values(case, inside=False), label="beyond"))


NOZZLES = {
    "n2-cryomassage": (c.N2_CRYOMASSAGE_NOZZLES, c.N2_NOZZLES),
    "n2-lesion": (c.N2_LESION_NOZZLES, c.N2_NOZZLES),
    "cj-air": (c.CJAIR_NOZZLES, c.CJAIR_NOZZLES),
}
ALL_NOZZLES = sorted({*c.N2_NOZZLES, *c.CJAIR_NOZZLES, "-", "E", "m", "S7", ""})


@pytest.mark.parametrize("kind", sorted(NOZZLES))
@pytest.mark.parametrize("nozzle", ALL_NOZZLES)
def test_only_the_kinds_nozzles_are_accepted(kind: str, nozzle: str) -> None:
    allowed, of_device = NOZZLES[kind]
    data = to_toml(set_path(base(kind), "device.nozzle", nozzle)).encode()
    if nozzle in allowed:
        assert parse_profile(data, source="t.toml").profile.device.nozzle == nozzle
        return
    with pytest.raises(ProfileError) as refused:
        parse_profile(data, source="t.toml")
    [problem] = refused.value.problems
    if nozzle in of_device:
        assert "is not allowed for n2 " in problem
    else:
        assert "is not a nozzle of the" in problem


def test_the_session_ceilings_cover_every_kind() -> None:
    """An overall cap on max_session_s exists for every device and kind."""
    for kind in NOZZLES:
        doc = set_path(base(kind), "session.max_session_s", 1e9)
        with pytest.raises(ProfileError, match=r"session\.max_session_s: .*exceeds the ceiling"):
            parse_profile(to_toml(doc).encode(), source="t.toml")


# --- rules between values ------------------------------------------------------------------

def _accepts(doc: dict[str, Any]) -> bool:
    try:
        parse_profile(to_toml(doc).encode(), source="t.toml")
    except ProfileError:
        return False
    return True


@settings(max_examples=100)
@given(total_s=st.floats(0.5, 30), share=st.floats(0.01, 1.0), kind=st.sampled_from(
    ["n2-lesion", "cj-air"]))
def test_dwell_up_to_the_zone_total_is_accepted_and_just_beyond_it_refused(
    total_s: float, share: float, kind: str
) -> None:
    doc = set_path(base(kind), "zones[0].max_total_s", total_s)
    assert _accepts(set_path(doc, "zones[0].max_dwell_s", total_s * share))
    assert _accepts(set_path(doc, "zones[0].max_dwell_s", total_s))
    beyond = math.nextafter(total_s, math.inf)
    with pytest.raises(ProfileError, match=re.escape(
            f"zones[0].max_dwell_s: {beyond!r} exceeds max_total_s ({total_s!r})")):
        parse_profile(to_toml(set_path(doc, "zones[0].max_dwell_s", beyond)).encode(),
                      source="t.toml")


temperatures_c = st.floats(-5, 30).map(lambda t: round(t, 1))


@settings(max_examples=150)
@given(stop_c=temperatures_c, warn_c=temperatures_c, reduce_c=temperatures_c)
def test_skin_limits_are_accepted_exactly_when_they_step_down_from_2_degrees(
    stop_c: float, warn_c: float, reduce_c: float
) -> None:
    doc = base("cj-air")
    for key, value in (("skin_stop_c", stop_c), ("skin_warn_c", warn_c),
                       ("skin_reduce_c", reduce_c)):
        set_path(doc, f"device.{key}", value)
    sound = c.CJAIR_MIN_SKIN_STOP_C <= stop_c < warn_c < reduce_c
    assert _accepts(doc) is sound


@settings(max_examples=60)
@given(passes=st.integers(1, 3), rest_s=st.sampled_from([0.0, 0.5, 30.0]),
       kind=st.sampled_from(["cj-air", "n2-lesion"]))
def test_rest_may_be_zero_only_for_a_single_pass(passes: int, rest_s: float, kind: str) -> None:
    doc = set_path(set_path(base(kind), "zones[0].passes", passes), "zones[0].rest_s", rest_s)
    floor_s = c.N2_LESION_MIN_REST_S if kind == "n2-lesion" else 0.0
    sound = rest_s >= floor_s and (rest_s > 0 or passes == 1)
    assert _accepts(doc) is sound


@pytest.mark.parametrize(("device", "kind", "sound"), [
    ("n2", "cryomassage", True), ("n2", "lesion", True), ("n2", "cold-air", False),
    ("cj-air", "cold-air", True), ("cj-air", "cryomassage", False), ("cj-air", "lesion", False),
])
def test_device_and_kind_combinations(device: str, kind: str, sound: bool) -> None:
    doc = base("n2-lesion" if device == "n2" else "cj-air")
    doc["profile"]["kind"] = kind
    if kind == "cryomassage":
        doc["device"]["nozzle"] = "M"
        doc["zones"][0]["max_dwell_s"] = 3
    assert _accepts(doc) is sound


@pytest.mark.parametrize("kind", sorted(NOZZLES))
def test_cryogen_budget_is_required_for_n2_and_forbidden_for_cold_air(kind: str) -> None:
    doc = base(kind)
    n2 = kind.startswith("n2")
    doc["session"].pop("max_cryogen_g", None)
    assert _accepts(doc) is not n2
    doc["session"]["max_cryogen_g"] = 100
    assert _accepts(doc) is n2
