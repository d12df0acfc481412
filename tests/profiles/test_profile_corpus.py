"""A corpus of broken profile files, each with the exact messages it must produce.

``corpus/NAME.toml`` is the file, ``corpus/NAME.expected`` the problems, one per line.
Zones are counted from 0; a line number appears wherever the key is in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cryoctl.errors import ProfileError
from cryoctl.profile import MAX_FILE_BYTES, load_profile, parse_profile
from cryoctl.profile.loader import MAX_PROBLEMS

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.toml"))


def test_every_corpus_file_has_its_expected_messages() -> None:
    assert len(CASES) >= 50
    assert sorted(p.with_suffix(".toml") for p in CORPUS.glob("*.expected")) == CASES


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_corpus_file_gives_exactly_the_expected_problems(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ProfileError) as refused:
        parse_profile(path.read_bytes(), source=path.name)
    assert refused.value.problems == expected
    assert str(refused.value) == "\n".join(expected)


def test_the_issue_example_message() -> None:
    """The example the technicians were promised, with its line number."""
    with pytest.raises(ProfileError) as refused:
        load_profile(CORPUS / "dwell-over-ceiling.toml")
    assert refused.value.problems == [
        f"{CORPUS / 'dwell-over-ceiling.toml'}:40: zones[2].max_dwell_s: 7.0 exceeds the "
        "ceiling of 5 s for n2 cryomassage"
    ]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r": is a directory, not a profile file$"):
        load_profile(tmp_path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"nothing\.toml: no such file$"):
        load_profile(tmp_path / "nothing.toml")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(ProfileError, match=r"pipe\.toml: not a regular file$"):
        load_profile(fifo)


def test_a_10_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:  # sparse: nothing to read would be cheap either way
        handle.truncate(10 * 1024 * 1024)
    with pytest.raises(ProfileError) as refused:
        load_profile(big)
    assert refused.value.problems == [
        f"{big}: 10485760 bytes exceed the limit of {MAX_FILE_BYTES} bytes for a profile file"
    ]


def test_bytes_above_the_limit_are_refused() -> None:
    data = b"#" * (MAX_FILE_BYTES + 1)
    with pytest.raises(ProfileError, match="65537 bytes exceed the limit of 65536 bytes"):
        parse_profile(data, source="big.toml")


def test_a_file_just_at_the_limit_is_read(tmp_path: Path) -> None:
    """The limit refuses what is above it, not a valid profile padded up to it."""
    text = (CORPUS.parent.parent.parent / "profiles" / "n2-lentigo.toml").read_bytes()
    padded = text + b"#" * (MAX_FILE_BYTES - len(text) - 1) + b"\n"
    assert len(padded) == MAX_FILE_BYTES
    path = tmp_path / "padded.toml"
    path.write_bytes(padded)
    assert load_profile(path).name == "n2-lentigo"


def test_a_nul_in_the_path_is_a_profile_error() -> None:
    with pytest.raises(ProfileError, match="not a usable path"):
        load_profile("bad\x00name.toml")


def _many_bad_zones(zone: str) -> bytes:
    head = (CORPUS / "dwell-over-ceiling.toml").read_text().split("[[zones]]")[0]
    text = head + "".join(zone.replace("#", str(i)) for i in range(2000))
    data = text.encode()[:MAX_FILE_BYTES]
    return data[: data.rindex(b"\n[[zones]]")]


@pytest.mark.parametrize("zone", [
    '[[zones]]\nname = "z#"\nmax_dwell_s = 9\nmax_total_s = 2\npasses = 9\nrest_s = 0\n',
    '[[zones]]\nname = 1\nmax_dwell_s = "9"\nmax_total_s = true\npasses = 9.5\nfoo = 1\n',
], ids=["rules", "types"])
@pytest.mark.timeout(15)  # a guard against the old quadratic scan (about a minute), not a benchmark
def test_a_file_full_of_problems_is_answered_quickly_and_briefly(zone: str) -> None:
    """Thousands of problems: the first 100 are shown, the rest counted."""
    data = _many_bad_zones(zone)
    with pytest.raises(ProfileError) as refused:
        parse_profile(data, source="many.toml")
    problems = refused.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert re.fullmatch(r"many\.toml: \d{3,} more problems not shown", problems[-1])
    assert all(re.match(r"many\.toml:\d+: zones", p) for p in problems[:-1])
