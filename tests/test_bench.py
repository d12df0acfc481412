"""The benchmark command runs and prints every figure (its numbers are not judged here).

``python -m bench --quick`` starts the simulated units, the control process and the
panel server itself, takes a few trials of each figure, prints the table and writes
the JSON file. A missed target is a row marked MISS, never a failure: no assertion
here is on a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = range(1, 9)


@pytest.mark.timeout(600)
def test_the_quick_bench_prints_every_figure_and_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = [line.split(None, 1) for line in done.stdout.splitlines()[2:] if line.strip()]
    printed = {int(cells[0]) for cells in table if cells[0].isdigit()}
    assert printed == set(FIGURES), done.stdout
    assert "did not complete" not in done.stdout, done.stdout + done.stderr
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert {row["figure"] for row in rows} == set(FIGURES)
    for row in rows:
        assert row["met"] in (True, False, None)
        assert row["target"]
        assert isinstance(row["value"], float)
    assert data["machine"]["quick"] is True
    assert data["machine"]["python"] == sys.version.split()[0]


def test_the_bench_refuses_an_unknown_figure() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "9"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "no figure 9" in done.stderr
