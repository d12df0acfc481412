"""The suite run by a Python where cryoctl is not installed says so, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# This very Python, with the editable install's import hook taken away: cryoctl then
# imports only from the checkout's folder, as in a terminal whose venv is not active.
_WITHOUT_INSTALL = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if "__editable__" not in getattr(f, "__module__", "")]
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "tests/test_pins.py"]))
"""


def test_a_python_without_cryoctl_installed_is_told_to_activate_the_venv() -> None:
    if not any("__editable__" in getattr(f, "__module__", "") for f in sys.meta_path):
        pytest.skip("cryoctl is not an editable install here: no import hook to take away")
    done = subprocess.run([sys.executable, "-c", _WITHOUT_INSTALL], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "cryoctl is not installed in this Python" in done.stdout + done.stderr
    assert "activate the virtual environment first (. .venv/bin/activate)" in done.stdout
    assert "ModuleNotFoundError" not in done.stdout + done.stderr
