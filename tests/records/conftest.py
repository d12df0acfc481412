"""The records tests use the control tests' process helpers and the core tests' rig."""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
# Appended, not prepended: another folder's ``conftest`` must never shadow its own.
for _folder in ("control", "core"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))
