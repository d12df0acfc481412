"""``systemd/install.sh`` into a scratch root: every file in place, twice the same."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from service_rig import REPO, SYSTEMD, UNITS

INSTALL = SYSTEMD / "install.sh"
FILES_ONLY = ("--no-apt", "--no-systemctl", "--no-pip")

#: Where each checkout file lands, and its mode.
PLACED = {
    **{f"etc/systemd/system/{unit}": (unit, 0o644) for unit in UNITS},
    "usr/lib/sysusers.d/cryoctl.conf": ("cryoctl.sysusers.conf", 0o644),
    "usr/lib/tmpfiles.d/cryoctl.conf": ("cryoctl.tmpfiles.conf", 0o644),
    "etc/udev/rules.d/99-cryo-unit.rules": ("99-cryo-unit.rules", 0o644),
    "etc/cryoctl/cryoctl.toml": ("cryoctl.example.toml", 0o640),
}


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", str(INSTALL), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    return done


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every path under ``root``: content digest (files), mode, modification time."""
    seen = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        seen[str(path.relative_to(root))] = (digest, stat.S_IMODE(info.st_mode),
                                             info.st_mtime_ns)
    return seen


def test_every_file_where_it_belongs(tmp_path: Path) -> None:
    done = install(tmp_path, *FILES_ONLY)
    assert done.returncode == 0, done.stderr
    for placed, (source, mode) in PLACED.items():
        path = tmp_path / placed
        assert path.read_bytes() == (SYSTEMD / source).read_bytes(), placed
        assert stat.S_IMODE(path.stat().st_mode) == mode, placed
    assert stat.S_IMODE((tmp_path / "etc/cryoctl").stat().st_mode) == 0o750
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert files == set(PLACED)  # --no-pip: no venv; no kiosk user without --kiosk
    # the next steps
    for step in ("cryoctl pin hash", "systemctl enable --now cryoctl cryoctl-panel",
                 "journalctl -u cryoctl -f", "systemctl status cryoctl"):
        assert step in done.stdout


def test_another_root_never_touches_the_host(tmp_path: Path) -> None:
    """Under --root, apt and systemctl are skipped even when not switched off."""
    done = install(tmp_path, "--no-pip")
    assert done.returncode == 0, done.stderr
    assert f"Debian packages: skipped (--root {tmp_path})" in done.stdout
    assert f"systemd: skipped (--root {tmp_path})" in done.stdout


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    assert install(tmp_path, *FILES_ONLY).returncode == 0
    before = snapshot(tmp_path)
    again = install(tmp_path, *FILES_ONLY)
    assert again.returncode == 0, again.stderr
    assert snapshot(tmp_path) == before
    assert "written" not in again.stdout
    assert "/etc/cryoctl/cryoctl.toml exists, left as it is" in again.stdout


def test_an_edited_config_is_never_overwritten(tmp_path: Path) -> None:
    assert install(tmp_path, *FILES_ONLY).returncode == 0
    config = tmp_path / "etc/cryoctl/cryoctl.toml"
    edited = '[unit]\nkind = "cj-air"\nurl = "modbus+tcp://127.0.0.1:5020?device_id=1"\n'
    config.write_text(edited)
    config.chmod(0o600)
    assert install(tmp_path, *FILES_ONLY).returncode == 0
    assert config.read_text() == edited
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_changed_unit_file_is_put_back(tmp_path: Path) -> None:
    assert install(tmp_path, *FILES_ONLY).returncode == 0
    unit = tmp_path / "etc/systemd/system/cryoctl.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    rules = tmp_path / "etc/udev/rules.d/99-cryo-unit.rules"
    rules.chmod(0o600)
    done = install(tmp_path, *FILES_ONLY)
    assert done.returncode == 0
    assert unit.read_bytes() == (SYSTEMD / "cryoctl.service").read_bytes()
    assert stat.S_IMODE(rules.stat().st_mode) == 0o644
    assert "written  /etc/systemd/system/cryoctl.service" in done.stdout


def test_kiosk_and_unit_dir(tmp_path: Path) -> None:
    done = install(tmp_path, *FILES_ONLY, "--kiosk", "--unit-dir", "/usr/lib/systemd/system")
    assert done.returncode == 0, done.stderr
    for unit in UNITS:
        assert (tmp_path / "usr/lib/systemd/system" / unit).is_file()
        assert not (tmp_path / "etc/systemd/system" / unit).exists()
    kiosk = tmp_path / "usr/lib/sysusers.d/cryoctl-kiosk.conf"
    assert kiosk.read_bytes() == (SYSTEMD / "cryoctl-kiosk.sysusers.conf").read_bytes()
    assert "systemctl enable --now cryoctl-kiosk" in done.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--unit-dir", "relative/dir"], ["--root"]])
def test_bad_options_are_exit_2(tmp_path: Path, args: list[str]) -> None:
    if args == ["--root"]:
        done = subprocess.run(["bash", str(INSTALL), "--root"], capture_output=True, text=True,
                              timeout=60)
    else:
        done = install(tmp_path, *FILES_ONLY, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("install.sh: ")


def test_help() -> None:
    done = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--no-pip" in done.stdout


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (Debian: apt-get install shellcheck)")
def test_shellcheck_is_clean() -> None:
    done = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None
                    or shutil.which("systemd-tmpfiles") is None,
                    reason="systemd-sysusers/systemd-tmpfiles are not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles sets owners: needs root")
def test_sysusers_and_tmpfiles_make_the_users_and_directories(tmp_path: Path) -> None:
    """What systemd does with the installed snippets at boot, done into the scratch root."""
    assert install(tmp_path, *FILES_ONLY, "--kiosk").returncode == 0
    sysusers = subprocess.run(["systemd-sysusers", f"--root={tmp_path}"],
                              capture_output=True, text=True, timeout=60)
    assert sysusers.returncode == 0, sysusers.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in
              (tmp_path / "etc/passwd").read_text().splitlines()}
    group = {line.split(":")[0]: line.split(":") for line in
             (tmp_path / "etc/group").read_text().splitlines()}
    gid = {name: int(row[2]) for name, row in group.items()}
    uid = {name: int(row[2]) for name, row in passwd.items()}
    assert int(passwd["cryoctl"][3]) == gid["cryoctl"]
    assert int(passwd["cryoctl-panel"][3]) == gid["cryoctl"]
    assert passwd["cryoctl"][5] == "/var/lib/cryoctl"
    assert "cryoctl" in group["dialout"][3].split(",")
    assert "cryoctl-tech" in group and "kiosk" in passwd

    tmpfiles = subprocess.run(
        ["systemd-tmpfiles", f"--root={tmp_path}", "--create",
         str(tmp_path / "usr/lib/tmpfiles.d/cryoctl.conf")],
        capture_output=True, text=True, timeout=60)
    assert tmpfiles.returncode == 0, tmpfiles.stderr

    def owner_mode(relative: str) -> tuple[int, int, int]:
        info = (tmp_path / relative).stat()
        return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)

    own = (uid["cryoctl"], gid["cryoctl"])
    assert owner_mode("var/lib/cryoctl") == (*own, 0o750)
    assert owner_mode("var/lib/cryoctl/profiles") == (*own, 0o750)
    assert owner_mode("var/lib/cryoctl/cryoctl.db") == (*own, 0o640)
    assert (tmp_path / "var/lib/cryoctl/cryoctl.db").stat().st_size == 0
    assert owner_mode("etc/cryoctl") == (0, gid["cryoctl"], 0o750)
    assert owner_mode("etc/cryoctl/cryoctl.toml") == (0, gid["cryoctl"], 0o640)


def test_the_checkout_is_what_pip_would_install() -> None:
    """--no-pip aside, the venv step installs this checkout: it must be a project."""
    assert (REPO / "pyproject.toml").is_file()
    assert 'cryoctl = "cryoctl.cli:main"' in (REPO / "pyproject.toml").read_text()
