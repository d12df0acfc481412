"""The benchmark command keeps working (its numbers are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_bench_prints_the_core_and_profile_numbers() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "core", "profile"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "session at 50 Hz" in done.stdout
    assert "per control cycle" in done.stdout
    assert "parse + validate" in done.stdout


def test_bench_refuses_an_unknown_name() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "nope"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown bench nope" in done.stdout
