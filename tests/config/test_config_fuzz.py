"""Whatever bytes arrive, the config loader answers with a Config or a ConfigError, nothing else."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from fuzzing import fuzz
from hypothesis import strategies as st
from toml_text import to_toml

from cryoctl.config import Config, parse_config, problems_of
from cryoctl.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "systemd" / "cryoctl.example.toml"
BASE: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())

KEYS = sorted({"unit", "control", "api", "data", "auth", "panel", "log", "records",
               *(key for table in BASE.values() for key in table),
               "staff_pin_hash", "technician_pin_hash"})

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=0, max_value=0o7777),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["n2", "cj-air", "en", "ru", "json", "0660", "/run/x.sock", "localhost",
                     "n2+serial:///dev/x", "modbus+tcp://127.0.0.1:5020", "scrypt$1$2$3$4$5",
                     "*", "127.0.0.1", "::1", "cryoctl-tech", "{rule}"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10,
)
documents = st.dictionaries(
    keys, st.one_of(values, st.dictionaries(keys, values, max_size=6)), max_size=8
)


def _answer(data: bytes) -> Config | None:
    try:
        config = parse_config(data, source="f.toml")
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("f.toml") for p in exc.problems), exc.problems
        assert all("\n" not in p for p in exc.problems), exc.problems
        return None
    assert problems_of(config) == []
    assert config.auth.token_idle_s <= config.auth.token_lifetime_s
    assert config.control.socket_mode & 0o007 == 0
    return config


def test_the_writer_round_trips_the_example() -> None:
    assert tomllib.loads(to_toml(BASE)) == BASE
    assert _answer(to_toml(BASE).encode()) is not None


@fuzz(300, st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _answer(data)


@fuzz(200, st.text(alphabet=st.sampled_from('[]{}="\'.,#\n\t -_azAZ0179+e:ou$/'), max_size=300))
def test_random_toml_like_text(text: str) -> None:
    _answer(text.encode())


@fuzz(200, documents)
def test_random_toml_documents(doc: dict[str, Any]) -> None:
    text = to_toml(doc)
    tomllib.loads(text)  # valid TOML, so the models and rules see it
    _answer(text.encode())


@fuzz(300, data=st.data())
def test_the_example_with_random_changes(data: st.DataObject) -> None:
    doc = json.loads(json.dumps(BASE))
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        section = data.draw(st.sampled_from(sorted(doc)), label="section")
        table = doc[section]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
        if action == "add" or not table:
            table[data.draw(keys, label="new key")] = data.draw(values, label="new value")
            continue
        key = data.draw(st.sampled_from(sorted(table)), label="key")
        if action == "delete":
            del table[key]
        else:
            table[key] = data.draw(values, label="value")
    _answer(to_toml(doc).encode())


@fuzz(150, data=st.data())
def test_a_damaged_example_file(data: st.DataObject) -> None:
    raw = bytearray(EXAMPLE.read_bytes())
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
