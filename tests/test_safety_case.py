"""docs/SAFETY.md names only tests that exist, and a test for every control of every hazard.

Each hazard is a ``## H<n>`` section with a table ``| layer | control | tests |``.
Test ids are pytest node ids in backticks, looked up in pytest's own collection of
the whole suite (the fuzz marker included): an id with a parameter (``[...]``)
must be collected as written, one without matches that test under any parameter.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAFETY = ROOT / "docs" / "SAFETY.md"
HAZARDS = (
    "frostbite from an over-long spray", "a tie-down trigger", "oxygen deficiency in the room",
    "a stuck-open valve", "lost communication", "stale data", "the wrong nozzle",
    "the wrong or a tampered profile", "a course rule ignored", "unauthorised use",
    "a crash of the control process mid-spray", "a hung control loop",
)
LAYERS = ("unit", "expiry", "supervisor", "machine", "panel")
_ID = re.compile(r"`(tests/[\w/]+\.py::[^`\s]+)`")
_SECTION = re.compile(r"^## H(\d+) (.+)$", re.M)


def _sections() -> dict[str, str]:
    text = SAFETY.read_text(encoding="utf-8")
    found = list(_SECTION.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {m.group(2).partition(" (")[0].strip().lower(): text[m.end():end]
            for m, end in zip(found, ends, strict=True)}


def _rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] != "layer":
                rows.append(cells)
    return rows


@functools.cache
def _collected() -> frozenset[str]:
    """Every node id of the suite, as ``python -m pytest`` collects it (one session, so
    each folder's conftest is the one its tests import)."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "", "-p",
         "no:cacheprovider", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return frozenset(line.strip() for line in out.stdout.splitlines() if "::" in line)


def test_every_hazard_has_a_row_for_each_layer_and_every_control_names_a_test() -> None:
    sections = _sections()
    assert sorted(sections) == sorted(HAZARDS), sorted(sections)
    for hazard, section in sections.items():
        rows = _rows(section)
        layers = {row[0].strip("*") for row in rows}
        assert set(LAYERS) <= layers, (hazard, layers)
        for row in rows:
            assert len(row) == 3, (hazard, row)
            assert _ID.search(row[2]), f"{hazard}: {row[0]}: no test named for {row[1]!r}"


def test_every_named_test_exists() -> None:
    ids = set(_ID.findall(SAFETY.read_text(encoding="utf-8")))
    assert len(ids) > 60, len(ids)
    files = {node_id.partition("::")[0] for node_id in ids}
    absent = sorted(f for f in files if not (ROOT / f).is_file())
    assert not absent, absent
    collected = _collected()
    missing = [node_id for node_id in sorted(ids) if node_id not in collected
               and not any(c.startswith(node_id + "[") for c in collected)]
    assert not missing, "not collected by pytest:\n" + "\n".join(missing)


def test_a_test_that_does_not_exist_is_not_collected() -> None:
    collected = _collected()
    assert "tests/core/test_safety_properties.py::TestN2::runTest" in collected
    assert not any("test_that_was_never_written" in c for c in collected)
