"""The record names who signed the profile: vendor key, ``cryoctl run``, ``cryoctl panel``, HTTP.

The vendor makes a key and signs a copy of a shipped profile with the CLI; the
technician installs it; the control process requires signatures. A session run
on it through the panel's API is recorded with the signer's key name and
fingerprint, and the session's JSON, the printed report (both languages) and
``cryoctl records show`` all say so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import REPO, Children, cryoctl, terminate, wait_for
from records_rig import Device, answers
from test_records_api_e2e import (
    STAFF_PIN,
    TECH_PIN,
    _connected,
    _free_port,
    _login,
    _spray,
    _wait_phase,
)

from cryoctl.pins import hash_pin

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SHIPPED = "n2-face-cryomassage"
SIGNED = "clinic-face-signed"


def _vendor_key(folder: Path) -> tuple[str, str]:
    """A vendor key made with the CLI: its ``trusted_keys`` line and its fingerprint."""
    keygen = cryoctl("profile", "keygen", "--out", str(folder / "vendor.pem"), "--name", "vendor")
    assert keygen.returncode == 0, keygen.stderr
    keys_line = re.search(r"^trusted_keys = .*$", keygen.stdout, re.M)
    found = re.search(r"^fingerprint ([0-9a-f]{16})$", keygen.stdout, re.M)
    assert keys_line is not None and found is not None, keygen.stdout
    return keys_line.group(0), found.group(1)


def _install_signed(folder: Path, name: str = SIGNED, *config: str) -> Path:
    text = (REPO / "profiles" / f"{SHIPPED}.toml").read_bytes()
    renamed = text.replace(f'name = "{SHIPPED}"'.encode(), f'name = "{name}"'.encode(), 1)
    assert renamed != text
    path = folder / f"{name}.toml"
    path.write_bytes(renamed)
    signed = cryoctl("profile", "sign", str(path), "--key", str(folder / "vendor.pem"))
    assert signed.returncode == 0, signed.stderr
    out = cryoctl("profile", "install", str(path), "--dir", str(folder / "profiles"), *config)
    assert out.returncode == 0, out.stderr
    return path


@pytest.fixture
def signed_device(tmp_path: Path) -> Iterator[tuple[Device, httpx.Client, str]]:
    keys_line, fingerprint = _vendor_key(tmp_path)
    _install_signed(tmp_path)
    port = _free_port()
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, "n2")
        device.config.write_text(
            device.config.read_text()
            + f"\n[profiles]\nrequire_signatures = true\n{keys_line}\n"
            f'\n[api]\nbind = "127.0.0.1"\nport = {port}\n\n[auth]\n'
            f'staff_pin_hash = "{hash_pin(STAFF_PIN)}"\n'
            f'technician_pin_hash = "{hash_pin(TECH_PIN)}"\n')
        device.start_daemon()
        children.start("panel", "panel", "--config", str(device.config))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            wait_for(lambda: _connected(api), 20, "the panel reaches the control process")
            yield device, api, fingerprint
        terminate(device.daemon)


def test_a_session_on_a_signed_profile_names_its_signer_everywhere(
        signed_device: tuple[Device, httpx.Client, str]) -> None:
    device, api, fingerprint = signed_device
    staff = _login(api, STAFF_PIN)
    body = {"profile": SIGNED, "patient_ref": "P-SIGNED", "cold_test_done": True,
            "checklist": answers(SHIPPED)}
    answer = api.post("/api/v1/session", json=body, headers=staff)
    assert answer.status_code == 200, answer.text
    _wait_phase(api, "treating_armed")
    _spray(device, api, 0.3)
    assert api.post("/api/v1/session/stop", headers=staff).status_code == 200
    _wait_phase(api, "completed")

    [row] = device.rows("SELECT id, profile_name, profile_signed, profile_signer, "
                        "profile_signer_fingerprint FROM sessions")
    assert tuple(row)[1:] == (SIGNED, 1, "vendor", fingerprint)
    detail = api.get(f"/api/v1/sessions/{row['id']}", headers=staff).json()
    profile = detail["profile"]
    assert (profile["name"], profile["signed"], profile["signer"],
            profile["signer_fingerprint"]) == (SIGNED, True, "vendor", fingerprint)
    listed = api.get("/api/v1/sessions", headers=staff).json()["sessions"]
    assert listed[0]["profile"] == profile

    for lang, words in (("en", ("Profile signature", "signed by vendor")),
                        ("ru", ("Подпись профиля", "подписан ключом vendor"))):
        page = api.get(f"/api/v1/sessions/{row['id']}/report?lang={lang}", headers=staff)
        assert page.status_code == 200, page.text
        for figure in (*words, fingerprint):
            assert figure in page.text, (lang, figure)

    shown = cryoctl("records", "show", row["id"], "--db", str(device.db))
    assert shown.returncode == 0, shown.stderr
    assert f"signed    by vendor {fingerprint}" in shown.stdout.splitlines()
    started = device.rows("SELECT detail_json FROM audit WHERE action = 'session_started'")
    assert f'"profile_signer_fingerprint": "{fingerprint}"' in started[0]["detail_json"]


def test_a_profile_installed_with_the_cli_is_in_the_audit_trail(
        signed_device: tuple[Device, httpx.Client, str]) -> None:
    device, _api, fingerprint = signed_device
    # The control process is running and writing; the CLI's row joins the same chain.
    path = _install_signed(device.folder, "clinic-late-signed", "--config", str(device.config))
    [row] = device.rows("SELECT role, detail_json FROM audit WHERE action = 'profile_installed'")
    detail = json.loads(row["detail_json"])
    assert detail["name"] == "clinic-late-signed" and detail["via"] == "cli"
    assert detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (detail["signer"], detail["signer_fingerprint"]) == ("vendor", fingerprint)
    # Installed again: unchanged, so no second row.
    again = cryoctl("profile", "install", str(path), "--dir", str(device.folder / "profiles"),
                    "--config", str(device.config))
    assert again.returncode == 0 and again.stdout.startswith("unchanged"), again.stdout
    assert len(device.rows("SELECT id FROM audit WHERE action = 'profile_installed'")) == 1
    verified = cryoctl("audit", "verify", "--db", str(device.db))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_cli_install_before_the_first_start_says_it_is_not_audited(tmp_path: Path) -> None:
    _vendor_key(tmp_path)
    config = tmp_path / "cryoctl.toml"
    config.write_text(f'[unit]\nkind = "n2"\nurl = "n2+socket://127.0.0.1:1"\n\n'
                      f'[data]\ndir = "{tmp_path}"\n')
    text = (REPO / "profiles" / f"{SHIPPED}.toml").read_bytes()
    path = tmp_path / "early.toml"
    path.write_bytes(text.replace(f'name = "{SHIPPED}"'.encode(), b'name = "early"', 1))
    out = cryoctl("profile", "install", str(path), "--dir", str(tmp_path / "profiles"),
                  "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert f"no records database at {tmp_path / 'cryoctl.db'} yet" in out.stderr
    assert not (tmp_path / "cryoctl.db").exists()  # the CLI never creates the records
