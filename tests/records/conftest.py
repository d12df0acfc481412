"""The records tests use the control tests' process helpers and the core tests' rig."""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_TESTS / "control"))
sys.path.insert(0, str(_TESTS / "core"))
