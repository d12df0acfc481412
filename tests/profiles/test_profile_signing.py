"""Signed profiles: keygen, sign and verify through the real CLI; install and load refusals.

Every command runs as ``python -m cryoctl`` in its own process, the way a vendor and a
technician use it. The signature covers the file's exact bytes, so the profile's
SHA-256 identity does not change when it is signed.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cryoctl.errors import ProfileError
from cryoctl.profile import catalogue, load_profile
from cryoctl.profile.signing import SignaturePolicy, signature_path
from cryoctl.profile.store import install_profile

REPO = Path(__file__).parents[2]
LENTIGO = REPO / "profiles" / "n2-lentigo.toml"
_PUBLIC = re.compile(r'trusted_keys = \{ (\S+) = "(ed25519:[A-Za-z0-9+/=]+)" \}')


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CRYOCTL_CONFIG",
                                                           "CRYOCTL_PROFILE_DIR")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "cryoctl", "profile", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def keygen(folder: Path, name: str) -> tuple[Path, str, str]:
    """A new key pair: the private key file, the public key text, its fingerprint."""
    key = folder / f"{name}.pem"
    out = cli("keygen", "--out", str(key), "--name", name, cwd=folder)
    assert out.returncode == 0, out.stderr
    found = _PUBLIC.search(out.stdout)
    assert found is not None, out.stdout
    assert found.group(1) == name
    fingerprint = re.search(r"^fingerprint ([0-9a-f]{16})$", out.stdout, re.M)
    assert fingerprint is not None, out.stdout
    assert key.stat().st_mode & 0o777 == 0o600
    return key, found.group(2), fingerprint.group(1)


def clinic_profile(folder: Path, name: str = "clinic-lentigo") -> Path:
    path = folder / f"{name}.toml"
    path.write_bytes(LENTIGO.read_bytes().replace(b'name = "n2-lentigo"',
                                                  f'name = "{name}"'.encode(), 1))
    return path


def write_config(folder: Path, *, required: bool, keys: dict[str, str]) -> Path:
    config = folder / "cryoctl.toml"
    table = ", ".join(f'{name} = "{text}"' for name, text in keys.items())
    config.write_text('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\n'
                      f'[data]\ndir = "{folder}"\n'
                      f"[profiles]\nrequire_signatures = {'true' if required else 'false'}\n"
                      f"trusted_keys = {{ {table} }}\n")
    return config


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    return keygen(tmp_path_factory.mktemp("vendor"), "vendor-2026")


def test_keygen_sign_verify_round_trip_through_the_cli(
        tmp_path: Path, vendor: tuple[Path, str, str]) -> None:
    key, public, fingerprint = vendor
    profile = clinic_profile(tmp_path)
    before = hashlib.sha256(profile.read_bytes()).hexdigest()
    signed = cli("sign", str(profile), "--key", str(key), cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    sig = signature_path(profile)
    assert sig.name == "clinic-lentigo.toml.sig"
    assert re.fullmatch(r"ed25519:[A-Za-z0-9+/]{86}==\n", sig.read_text())
    assert fingerprint in signed.stdout
    # The identity is the profile's own bytes, signed or not.
    assert hashlib.sha256(profile.read_bytes()).hexdigest() == before
    ok = cli("verify", str(profile), "--public-key", f"vendor-2026={public}", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == (f"ok clinic-lentigo v1 sha256:{before[:12]} signed by "
                                 f"vendor-2026 {fingerprint}")
    config = write_config(tmp_path, required=True, keys={"vendor-2026": public})
    by_config = cli("verify", str(profile), "--config", str(config), cwd=tmp_path)
    assert by_config.returncode == 0, by_config.stderr
    assert by_config.stdout == ok.stdout


def test_one_changed_byte_is_refused(tmp_path: Path, vendor: tuple[Path, str, str]) -> None:
    key, public, _ = vendor
    profile = clinic_profile(tmp_path)
    assert cli("sign", str(profile), "--key", str(key), cwd=tmp_path).returncode == 0
    data = bytearray(profile.read_bytes())
    at = data.index(b"max_dwell_s = ") + len(b"max_dwell_s = ")
    data[at] = ord("1") if data[at] != ord("1") else ord("2")  # still a valid profile
    profile.write_bytes(bytes(data))
    load_profile(profile)  # valid content; only the signature tells
    out = cli("verify", str(profile), "--public-key", f"vendor-2026={public}", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().startswith(f"{profile}: the signature does not match the "
                                         "profile's bytes under any trusted key")
    assert "Traceback" not in out.stderr


def test_a_signature_by_another_key_is_refused(
        tmp_path: Path, vendor: tuple[Path, str, str]) -> None:
    _, public, fingerprint = vendor
    other_key, _, other_fp = keygen(tmp_path, "someone-else")
    profile = clinic_profile(tmp_path)
    assert cli("sign", str(profile), "--key", str(other_key), cwd=tmp_path).returncode == 0
    out = cli("verify", str(profile), "--public-key", f"vendor-2026={public}", cwd=tmp_path)
    assert out.returncode == 1
    assert "does not match" in out.stderr and f"vendor-2026 {fingerprint}" in out.stderr
    assert other_fp not in out.stderr


def test_a_garbled_signature_file_is_named(tmp_path: Path,
                                          vendor: tuple[Path, str, str]) -> None:
    _, public, _ = vendor
    profile = clinic_profile(tmp_path)
    signature_path(profile).write_text("not a signature\n")
    out = cli("verify", str(profile), "--public-key", f"v={public}", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == f"{profile}.sig: a signature must start with 'ed25519:'"


def test_install_requires_a_signature_only_when_the_config_says_so(
        tmp_path: Path, vendor: tuple[Path, str, str]) -> None:
    key, public, fingerprint = vendor
    unsigned = clinic_profile(tmp_path, "clinic-unsigned")
    signed = clinic_profile(tmp_path, "clinic-signed")
    assert cli("sign", str(signed), "--key", str(key), cwd=tmp_path).returncode == 0
    (tmp_path / "lax").mkdir()
    lax = write_config(tmp_path / "lax", required=False, keys={"vendor-2026": public})
    strict = write_config(tmp_path, required=True, keys={"vendor-2026": public})
    store = tmp_path / "store"

    # Not required: the unsigned one installs and shows as unsigned.
    out = cli("install", str(unsigned), "--dir", str(store), "--config", str(lax), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(", unsigned")
    # Required: an unsigned one is refused, nothing written.
    other = clinic_profile(tmp_path, "clinic-other")
    out = cli("install", str(other), "--dir", str(store), "--config", str(strict), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"{other}: unsigned; this device requires profiles signed by "
                                  f"a trusted key (trusted: vendor-2026 {fingerprint})")
    assert not (store / "clinic-other-v1.toml").exists()
    # Required: the signed one installs with its signature beside it.
    out = cli("install", str(signed), "--dir", str(store), "--config", str(strict), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f", signed by vendor-2026 {fingerprint}")
    assert (store / "clinic-signed-v1.toml.sig").read_bytes() == \
        signature_path(signed).read_bytes()

    listed = cli("list", "--dir", str(store), "--config", str(strict), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "NAME", "VERSION", "DEVICE", "KIND", "ZONES", "SHA256", "SIGNER", "SOURCE"]
    row = next(line.split() for line in listed.stdout.splitlines()
               if line.startswith("clinic-signed"))
    assert row[6] == f"vendor-2026:{fingerprint}"
    assert "clinic-unsigned" not in listed.stdout
    assert listed.stderr.startswith(f"skipped: {store / 'clinic-unsigned-v1.toml'}: unsigned")

    # Loading under the strict policy leaves out the unsigned file, saying why.
    policy = SignaturePolicy.from_texts(required=True, keys={"vendor-2026": public})
    profiles, skipped = catalogue(store, policy)
    names = {p.name: p for p in profiles}
    assert "clinic-unsigned" not in names
    assert names["clinic-signed"].signer is not None
    assert names["clinic-signed"].signer.fingerprint == fingerprint
    assert skipped == [f"{store / 'clinic-unsigned-v1.toml'}: unsigned; this device requires "
                       f"profiles signed by a trusted key (trusted: vendor-2026 {fingerprint})"]


def test_a_tampered_installed_profile_is_refused_on_load(
        tmp_path: Path, vendor: tuple[Path, str, str]) -> None:
    key, public, _ = vendor
    profile = clinic_profile(tmp_path)
    assert cli("sign", str(profile), "--key", str(key), cwd=tmp_path).returncode == 0
    policy = SignaturePolicy.from_texts(required=False, keys={"vendor-2026": public})
    result = install_profile(profile, tmp_path / "store", policy=policy)
    assert result.path is not None and result.loaded.signer is not None
    result.path.write_bytes(result.path.read_bytes().replace(b"Solar lentigo", b"Solar lentigO"))
    with pytest.raises(ProfileError, match="the signature does not match"):
        load_profile(result.path, policy=policy)
    profiles, skipped = catalogue(tmp_path / "store", policy)
    assert all(p.name != "clinic-lentigo" for p in profiles)
    assert len(skipped) == 1 and "does not match" in skipped[0]


def test_the_config_refuses_required_signatures_without_keys_and_bad_keys(
        tmp_path: Path) -> None:
    config = tmp_path / "cryoctl.toml"
    config.write_text('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\n'
                      "[profiles]\nrequire_signatures = true\n")
    out = cli("install", str(LENTIGO), "--dir", str(tmp_path), "--config", str(config),
              cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"{config}:5: profiles.require_signatures: is true but "
                                  "profiles.trusted_keys names no key to verify with")
    config.write_text('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\n'
                      '[profiles]\ntrusted_keys = { vendor = "ed25519:AAAA" }\n')
    out = cli("install", str(LENTIGO), "--dir", str(tmp_path), "--config", str(config),
              cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"{config}:5: profiles.trusted_keys.vendor: a public key must "
                                  "be 32 bytes, got 3 (expected ed25519:BASE64, from cryoctl "
                                  "profile keygen)")
