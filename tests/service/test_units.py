"""The unit files as systemd reads them: ``systemd-analyze verify`` and ``security``.

How ``verify`` is run offline here (systemd 252, systemd not running as PID 1):

- Given a unit file's path on the real root it loads the unit fine, but then
  checks that every ``Exec*=`` program exists and is executable *on this machine*:
  ``Command /opt/cryoctl/venv/bin/cryoctl is not executable`` (exit status 1).
- ``--root=DIR`` makes it look everything up under DIR instead, the programs and
  also the units every unit depends on by default (``sysinit.target``, ...):
  without those, ``Unit sysinit.target not found`` (exit status 1).
- So each test builds a scratch root: a copy of this machine's
  ``/usr/lib/systemd/system`` (the stock units, under 1 MiB), our units in
  ``etc/systemd/system``, and a stub script at each path an ``Exec*=`` line names.
  ``--man=no`` skips looking up ``Documentation=`` man pages, ``--generators=no``
  running the machine's generators; neither can work on a scratch root.
- An unknown key or a value systemd cannot parse is only a message (``Unknown key
  'X' in section [Service], ignoring.``) with exit status 0, so the tests demand
  an empty output as well as exit status 0; two control cases prove that such
  messages and a missing program are seen.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_rig import SYSTEMD, UNITS, unit_lines, unit_values

from cryoctl.config import DEFAULT_CONFIG_PATH, ApiConfig, ControlConfig, DataConfig

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
STOCK_UNITS = Path("/usr/lib/systemd/system")
#: A hardened unit scores about 1.1 (0 is perfect, 10 a bare one); ours must stay under this.
MAX_EXPOSURE = 2.0

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian: it comes with the systemd package)",
)


def _executables(unit: Path) -> set[str]:
    """The programs a unit's Exec*= lines start (their -@:+! prefixes stripped)."""
    programs = set()
    for _, key, value in unit_lines(unit.read_text()):
        if key.startswith("Exec") and value:
            programs.add(value.split()[0].lstrip("-@:+!"))
    return programs


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not STOCK_UNITS.is_dir():
        pytest.skip(f"{STOCK_UNITS} is missing: no stock units to verify against")
    root = tmp_path_factory.mktemp("verify-root")
    shutil.copytree(STOCK_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in UNITS:
        shutil.copy2(SYSTEMD / name, units / name)
        for program in _executables(SYSTEMD / name):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def _verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", "--man=no", "--generators=no", unit],
        capture_output=True, text=True, timeout=60,
    )


def test_the_units_start_the_installed_cryoctl() -> None:
    cryoctl = "/opt/cryoctl/venv/bin/cryoctl"
    assert _executables(SYSTEMD / "cryoctl.service") == {cryoctl}
    assert _executables(SYSTEMD / "cryoctl-panel.service") == {cryoctl}
    assert {"/usr/bin/cage", "/bin/bash"} <= _executables(SYSTEMD / "cryoctl-kiosk.service")


@needs_systemd_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_verify_accepts_the_unit(verify_root: Path, unit: str) -> None:
    done = _verify(verify_root, unit)
    said = (done.stdout + done.stderr).strip()
    assert (done.returncode, said) == (0, ""), said


@needs_systemd_analyze
def test_verify_reports_what_it_ignores(verify_root: Path) -> None:
    """Control case: a misspelt key and a bad value are reported, with exit status 0."""
    text = (SYSTEMD / "cryoctl.service").read_text()
    broken = text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes\nProtectSystem=sideways")
    (verify_root / "etc/systemd/system/broken.service").write_text(broken)
    done = _verify(verify_root, "broken.service")
    said = done.stdout + done.stderr
    assert "Unknown key 'NoNewPrivilege'" in said and "sideways" in said


@needs_systemd_analyze
def test_verify_reports_a_missing_program(verify_root: Path) -> None:
    """Control case: a program that is not there fails the check."""
    text = (SYSTEMD / "cryoctl.service").read_text()
    moved = text.replace("/opt/cryoctl/venv/bin/cryoctl run", "/opt/elsewhere/cryoctl run")
    (verify_root / "etc/systemd/system/moved.service").write_text(moved)
    done = _verify(verify_root, "moved.service")
    assert done.returncode != 0
    assert "/opt/elsewhere/cryoctl is not executable" in done.stdout + done.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["cryoctl.service", "cryoctl-panel.service"])
def test_security_exposure_is_low(unit: str, record_property: pytest.RecordProperty,
                                  exposure_scores: dict[str, float]) -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(SYSTEMD / unit)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", done.stdout)
    assert found is not None, done.stdout
    score = float(found.group(1))
    record_property("exposure", score)
    exposure_scores[unit] = score
    print(f"{unit}: overall exposure {score}", file=sys.stderr)
    worst = [line for line in done.stdout.splitlines() if line.startswith("✗")]
    assert score <= MAX_EXPOSURE, "\n".join(worst)


# -- what the units, the config's defaults and the other snippets must agree on --------

def test_the_units_use_the_default_config_path() -> None:
    for unit in ("cryoctl.service", "cryoctl-panel.service"):
        for command in (*unit_values(SYSTEMD / unit, "ExecStart"),
                        *unit_values(SYSTEMD / unit, "ExecStopPost")):
            assert command.endswith(f"--config {DEFAULT_CONFIG_PATH}"), command


def test_the_control_process_unit() -> None:
    unit = SYSTEMD / "cryoctl.service"

    def one(key: str) -> str:
        values = unit_values(unit, key)
        assert len(values) == 1, (key, values)
        return values[0]

    assert (one("Type"), one("NotifyAccess"), one("WatchdogSec")) == ("notify", "main", "2s")
    assert one("ExecStart").split()[1:2] == ["run"]
    assert one("ExecStopPost").split()[1:2] == ["safe-stop"]
    assert one("Restart") == "on-failure"
    assert unit_values(unit, "StartLimitIntervalSec") and unit_values(unit, "StartLimitBurst")
    # The socket's directory is the runtime directory; the records live in the state one.
    assert Path("/run") / one("RuntimeDirectory") == ControlConfig().socket_path.parent
    assert one("RuntimeDirectoryMode") == "0750"
    assert Path("/var/lib") / one("StateDirectory") == DataConfig().dir
    assert (one("User"), one("Group"), one("SupplementaryGroups")) == (
        "cryoctl", "cryoctl", "dialout")
    assert (one("DevicePolicy"), one("DeviceAllow")) == ("closed", "/dev/cryo-unit rw")
    assert (one("IPAddressDeny"), one("IPAddressAllow")) == ("any", "localhost")
    assert one("CapabilityBoundingSet") == ""
    assert one("UMask") == "0027"
    assert unit_values(unit, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]


def test_the_panel_unit() -> None:
    unit = SYSTEMD / "cryoctl-panel.service"
    assert unit_values(unit, "After") == ["cryoctl.service"]
    assert unit_values(unit, "BindsTo") == ["cryoctl.service"]
    assert unit_values(unit, "User") == ["cryoctl-panel"]
    assert unit_values(unit, "Group") == ["cryoctl"]
    assert unit_values(unit, "PrivateDevices") == ["yes"]
    assert unit_values(unit, "IPAddressAllow") == ["localhost"]


def test_the_kiosk_shows_the_panel() -> None:
    unit = SYSTEMD / "cryoctl-kiosk.service"
    (start,) = unit_values(unit, "ExecStart")
    words = start.split()
    assert words[:2] == ["/usr/bin/cage", "-d"] and "/usr/bin/chromium" in words
    assert words[-1] == f"http://127.0.0.1:{ApiConfig().port}/"
    for flag in ("--kiosk", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--noerrdialogs",
                 "--disable-translate"):
        assert flag in words
    assert unit_values(unit, "User") == ["kiosk"]
    assert unit_values(unit, "TTYPath") == ["/dev/tty1"]
    assert unit_values(unit, "Restart") == ["always"]
    (wait,) = unit_values(unit, "ExecStartPre")
    assert f"/dev/tcp/127.0.0.1/{ApiConfig().port}" in wait


def _sysusers(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_units_users_exist_in_sysusers() -> None:
    rows = _sysusers(SYSTEMD / "cryoctl.sysusers.conf")
    users = {row[1]: row[2] for row in rows if row[0] == "u"}
    groups = {row[1] for row in rows if row[0] == "g"}
    members = {(row[1], row[2]) for row in rows if row[0] == "m"}
    assert users == {"cryoctl": "-:cryoctl", "cryoctl-panel": "-:cryoctl"}
    assert groups == {"cryoctl", "cryoctl-tech"}
    assert ("cryoctl", "dialout") in members
    # the config's default socket group list names a group sysusers makes
    assert set(ControlConfig().allowed_groups) <= groups
    kiosk = _sysusers(SYSTEMD / "cryoctl-kiosk.sysusers.conf")
    assert [row[:2] for row in kiosk] == [["u", "kiosk"]]


def test_tmpfiles_make_the_data_directory_and_the_database() -> None:
    rows = [line.split() for line in (SYSTEMD / "cryoctl.tmpfiles.conf").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    by_path = {row[1]: row for row in rows}
    data = str(DataConfig().dir)
    assert by_path[data][:5] == ["d", data, "0750", "cryoctl", "cryoctl"]
    assert by_path[f"{data}/profiles"][:5] == ["d", f"{data}/profiles", "0750", "cryoctl",
                                              "cryoctl"]
    assert by_path[f"{data}/cryoctl.db"][:5] == ["f", f"{data}/cryoctl.db", "0640", "cryoctl",
                                                "cryoctl"]
    assert by_path[str(DEFAULT_CONFIG_PATH)][:5] == [
        "z", str(DEFAULT_CONFIG_PATH), "0640", "root", "cryoctl"]


def test_udev_rule_names_the_adapter_the_unit_allows() -> None:
    rules = [line for line in (SYSTEMD / "99-cryo-unit.rules").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(rules) == 1
    pairs = dict(re.findall(r'([A-Z_]+(?:\{[A-Za-z_]+\})?)\s*[=+!:]*=\s*"([^"]*)"', rules[0]))
    assert pairs["SUBSYSTEM"] == "tty"
    assert (pairs["ATTRS{idVendor}"], pairs["ATTRS{idProduct}"]) == ("0403", "6001")
    assert (pairs["GROUP"], pairs["MODE"]) == ("dialout", "0660")
    assert 'SYMLINK+="cryo-unit"' in rules[0]
    assert unit_values(SYSTEMD / "cryoctl.service", "DeviceAllow") == ["/dev/cryo-unit rw"]
    # the example config's default URL is that device
    assert 'url = "n2+serial:///dev/cryo-unit"' in (SYSTEMD / "cryoctl.example.toml").read_text()
