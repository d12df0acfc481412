"""A corpus of broken config files, each with the exact messages it must produce.

``corpus/NAME.toml`` is the file, ``corpus/NAME.expected`` the problems, one per line,
each ``<file>:<line>: <key.path>: <rule>`` (no line where the key is not in the file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cryoctl.config import load_config, parse_config
from cryoctl.errors import ConfigError

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.toml"))


def test_every_corpus_file_has_its_expected_messages() -> None:
    assert len(CASES) >= 40
    assert sorted(p.with_suffix(".toml") for p in CORPUS.glob("*.expected")) == CASES


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_corpus_file_gives_exactly_the_expected_problems(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as refused:
        parse_config(path.read_bytes(), source=path.name)
    assert refused.value.problems == expected
    assert str(refused.value) == "\n".join(expected)


def test_the_promised_unknown_key_message_names_the_path_as_given() -> None:
    path = CORPUS / "unknown-key.toml"
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert refused.value.problems == [f"{path}:4: unit.bogus: unknown key"]
