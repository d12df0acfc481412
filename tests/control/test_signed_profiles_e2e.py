"""Signed profiles through the real programs: the vendor's CLI, ``cryoctl run``, ``cryoctl status``.

The vendor makes a key and signs a profile with ``cryoctl profile keygen`` and
``sign``; the technician installs it with ``cryoctl profile install``; the control
process, whose config requires signatures, loads it over its socket and refuses an
unsigned one; ``cryoctl status`` names the signer and the hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest
from procs import REPO, Children, cryoctl, socket_answers, terminate, wait_for, write_config

from cryoctl.client import ControlClient

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

LENTIGO = (REPO / "profiles" / "n2-lentigo.toml").read_bytes()


def _profile(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_bytes(LENTIGO.replace(b'name = "n2-lentigo"', f'name = "{name}"'.encode(), 1))
    return path


def test_the_control_process_loads_only_signed_profiles_and_shows_the_signer(
        tmp_path: Path) -> None:
    keygen = cryoctl("profile", "keygen", "--out", str(tmp_path / "vendor.pem"), "--name",
                     "vendor")
    assert keygen.returncode == 0, keygen.stderr
    keys_line = re.search(r"^trusted_keys = .*$", keygen.stdout, re.M)
    fingerprint = re.search(r"^fingerprint ([0-9a-f]{16})$", keygen.stdout, re.M)
    assert keys_line is not None and fingerprint is not None, keygen.stdout
    signed = _profile(tmp_path, "clinic-signed")
    unsigned = _profile(tmp_path, "clinic-unsigned")
    assert cryoctl("profile", "sign", str(signed), "--key",
                   str(tmp_path / "vendor.pem")).returncode == 0
    store = tmp_path / "profiles"
    # Installed while signatures were not yet required, so the store holds both.
    for path in (signed, unsigned):
        out = cryoctl("profile", "install", str(path), "--dir", str(store))
        assert out.returncode == 0, out.stderr
    with Children(tmp_path) as children:
        sim = children.simulator("n2", "--nozzle", "M")
        config = write_config(tmp_path, "n2", sim.url, extra=(
            f"\n[profiles]\nrequire_signatures = true\n{keys_line.group(0)}\n"))
        refused = cryoctl("profile", "install", str(_profile(tmp_path, "clinic-late")), "--dir",
                          str(store), "--config", str(config))
        assert refused.returncode == 1 and "unsigned" in refused.stderr, refused.stderr
        daemon = children.start("run", "run", "--config", str(config))
        sock = tmp_path / "control.sock"
        wait_for(lambda: socket_answers(sock) or daemon.poll() is not None, 15, "control socket")
        assert daemon.poll() is None, children.log("run")

        async def load() -> None:
            async with ControlClient(sock) as c:
                no = await c.load_profile("clinic-unsigned")
                assert not no.ok and "unsigned" in no.reason, no.reason
                yes = await c.load_profile("clinic-signed")
                assert yes.ok, yes.reason

        asyncio.run(load())
        screen = cryoctl("status", "--socket", str(sock))
        assert screen.returncode == 0, screen.stderr
        digest = hashlib.sha256(signed.read_bytes()).hexdigest()
        line = next(x for x in screen.stdout.splitlines() if x.startswith("profile"))
        assert line.endswith(f"sha256:{digest[:12]} signed by vendor {fingerprint.group(1)}"), line
        code, _ = terminate(daemon)
        assert code == 0, children.log("run")
