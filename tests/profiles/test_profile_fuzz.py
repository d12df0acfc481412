"""Whatever bytes arrive, the loader answers with a profile or a ProfileError, nothing else."""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

from fuzzing import fuzz
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_builders import BASES, base, to_toml

from cryoctl.errors import ProfileError
from cryoctl.profile import LoadedProfile, parse_profile, problems_of

SHIPPED = sorted((Path(__file__).parents[2] / "profiles").glob("*.toml"))

KEYS = sorted({
    "profile", "device", "session", "zones", "name", "title", "version", "kind", "description",
    "references", "nozzle", "pressure_kpa", "airflow_level", "outlet_temp_c", "skin_reduce_c",
    "skin_warn_c", "skin_stop_c", "max_session_s", "max_cryogen_g", "min_interval_h",
    "max_course_sessions", "requires_cold_test", "checklist", "max_dwell_s", "max_total_s",
    "passes", "rest_s", "repeat",
})

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["n2", "cj-air", "cryomassage", "lesion", "cold-air", "M", "C", "F20", "Z"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=12,
)
documents = st.dictionaries(
    keys,
    st.one_of(values, st.dictionaries(keys, values, max_size=6),
              st.lists(st.dictionaries(keys, values, min_size=1, max_size=6), min_size=1,
                       max_size=3)),
    max_size=6,
)


def _answer(data: bytes) -> LoadedProfile | None:
    try:
        loaded = parse_profile(data, source="f.toml")
    except ProfileError as exc:
        assert exc.problems
        assert all(p.startswith("f.toml") for p in exc.problems), exc.problems
        assert all("\n" not in p for p in exc.problems), exc.problems
        return None
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert problems_of(loaded.profile) == []
    return loaded


@fuzz(200, st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _answer(data)


@fuzz(150, st.text(alphabet=st.sampled_from('[]{}="\'.,#\n\t -_azAZ019+e:'), max_size=300))
def test_random_toml_like_text(text: str) -> None:
    _answer(text.encode())


@fuzz(150, documents)
def test_random_toml_documents(doc: dict[str, Any]) -> None:
    text = to_toml(doc)
    tomllib.loads(text)  # the documents are valid TOML, so the models and rules get them
    _answer(text.encode())


def _mutate(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    if not doc:
        doc[data.draw(keys, label="new section")] = data.draw(values, label="new value")
        return doc
    section = data.draw(st.sampled_from(sorted(doc)), label="section")
    target = doc[section]
    if isinstance(target, list) and target:
        target = target[data.draw(st.integers(0, len(target) - 1), label="zone")]
    if not isinstance(target, dict) or not target:
        doc[section] = data.draw(values, label="section value")
        return doc
    key = data.draw(st.sampled_from(sorted(target)), label="key")
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if action == "delete":
        del target[key]
    elif action == "add":
        target[data.draw(keys, label="new key")] = data.draw(values, label="new value")
    else:
        target[key] = data.draw(values, label="value")
    return doc


@fuzz(200, kind=st.sampled_from(sorted(BASES)), data=st.data())
def test_mutated_profiles(kind: str, data: st.DataObject) -> None:
    doc = base(kind)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = _mutate(doc, data)
    loaded = _answer(to_toml(doc).encode())
    if loaded is not None:
        for zone in loaded.profile.zones:
            assert 0 < zone.max_dwell_s <= zone.max_total_s
            assert math.isfinite(zone.max_total_s)


@settings(max_examples=150)
@given(path=st.sampled_from(SHIPPED), data=st.data())
def test_damaged_shipped_files(path: Path, data: st.DataObject) -> None:
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        how = data.draw(st.sampled_from(["set", "insert", "delete"]), label="how")
        byte = data.draw(st.integers(0, 255), label="byte")
        if how == "set":
            raw[at] = byte
        elif how == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    _answer(bytes(raw))
