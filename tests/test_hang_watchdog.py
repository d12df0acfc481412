"""A test that outlives its timeout, where pytest-timeout cannot stop it, ends the run.

The suite's conftest arms a faulthandler dump for each test at its timeout plus
``CRYOCTL_HANG_GRACE_S``: past that, every thread's stack goes to the terminal and
the run exits, instead of holding CI to its own limit with nothing printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Swallows pytest-timeout's Failed as Hypothesis does, then blocks.
_PROBE = '''
import time
import pytest

@pytest.mark.timeout(1)
def test_swallows_its_timeout():
    try:
        time.sleep(60)
    except BaseException:
        time.sleep(60)
'''


def test_a_test_that_swallows_its_timeout_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(_PROBE, encoding="utf-8")
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")  # the one under test
    env = os.environ | {"CRYOCTL_HANG_GRACE_S": "2"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-W", "ignore::DeprecationWarning", "--rootdir", str(tmp_path), "-c", os.devnull,
         str(tmp_path / "test_probe.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=50, env=env,
    )
    took_s = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "test_probe.py\", line" in out and "in test_swallows_its_timeout" in out, out
    assert took_s < 40, f"the run went on for {took_s:.0f} s (the probe blocks for 120 s)"
