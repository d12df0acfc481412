"""The package installs as one distribution with its console script and entry points."""

import subprocess
import sys
from importlib.metadata import entry_points


def test_console_script_and_module_agree() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cryoctl", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "cryoctl, version 0.1.0"


def test_driver_schemes_registered() -> None:
    names = {ep.name for ep in entry_points(group="cryoctl.drivers")}
    assert names == {"modbus+tcp", "modbus+rtu", "n2+serial", "n2+socket"}
