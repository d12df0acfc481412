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


def test_package_list_names_every_package() -> None:
    """pyproject lists packages by hand (for the profiles mapping); none may be forgotten."""
    import tomllib
    from pathlib import Path

    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = find_packages(str(root), include=["cryoctl*", "drivers*", "simulator*"])
    assert sorted(listed) == sorted([*found, "cryoctl.profiles"])


def test_shipped_profiles_are_package_data() -> None:
    from importlib.resources import files

    names = {p.name for p in files("cryoctl.profiles").iterdir() if p.name.endswith(".toml")}
    assert "n2-face-cryomassage.toml" in names
    assert len(names) >= 9


def test_every_file_of_the_touch_panel_is_package_data() -> None:
    """The page ships whole: each file under cryoctl/panel/static matches a package-data glob."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["cryoctl.panel"]
    panel = root / "cryoctl" / "panel"
    files = [p.relative_to(panel).as_posix() for p in (panel / "static").rglob("*") if p.is_file()]
    assert "static/index.html" in files
    assert [f for f in files if not any(fnmatch(f, g) and f.count("/") == g.count("/")
                                        for g in globs)] == []
