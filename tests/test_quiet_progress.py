"""Tests print nothing into pytest's progress line: numbers belong to the benchmarks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A progress line of ``pytest -q``: dots (and s, x) then the percentage.
_PROGRESS = re.compile(r"[.sxX]+\s+\[\s*\d+%\]")
_SUMMARY = re.compile(r"\d+ passed.* in [\d.]+s")


def test_the_session_flow_tests_print_nothing_of_their_own() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/core/test_session_flow.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    stray = [line for line in lines if not (_PROGRESS.fullmatch(line) or _SUMMARY.search(line))]
    assert stray == [], stray
