"""The control process loads installed profiles under the config's signature policy.

A real socket server and controller (fake unit): an unsigned or tampered installed
profile is refused with its reason when signatures are required, and the status
snapshot names the loaded profile's signer, its key's fingerprint and its hash.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from socket_rig import serve

from cryoctl.client import ControlClient
from cryoctl.profile.signing import (
    SignaturePolicy,
    fingerprint,
    generate_key,
    public_key_text,
    signature_text,
)

pytestmark = pytest.mark.timeout(30)

LENTIGO = (Path(__file__).resolve().parents[2] / "profiles" / "n2-lentigo.toml").read_bytes()


def _install(folder: Path, name: str, key: Ed25519PrivateKey | None) -> bytes:
    data = LENTIGO.replace(b'name = "n2-lentigo"', f'name = "{name}"'.encode(), 1)
    path = folder / f"{name}-v1.toml"
    path.write_bytes(data)
    if key is not None:
        sig = key.sign(data)
        (folder / f"{name}-v1.toml.sig").write_text(signature_text(sig))
    return data


async def test_status_shows_the_signer_and_unsigned_or_tampered_loads_are_refused(
        tmp_path: Path) -> None:
    key = generate_key()
    public = key.public_key()
    installed = tmp_path / "profiles"
    installed.mkdir()
    signed = _install(installed, "clinic-signed", key)
    _install(installed, "clinic-unsigned", None)
    _install(installed, "clinic-tampered", key)
    tampered = installed / "clinic-tampered-v1.toml"
    tampered.write_bytes(tampered.read_bytes().replace(b"Solar lentigo", b"Solar lentigO"))
    policy = SignaturePolicy.from_texts(required=True, keys={"vendor": public_key_text(public)})
    async with serve(tmp_path, profile_dir=installed, signatures=policy) as s, \
            ControlClient(s.path) as c:
        unsigned = await c.load_profile("clinic-unsigned")
        assert not unsigned.ok
        assert unsigned.reason.startswith(f"clinic-unsigned: refused: {installed}/"
                                          "clinic-unsigned-v1.toml: unsigned; this device "
                                          "requires profiles signed by a trusted key")
        bad = await c.load_profile("clinic-tampered")
        assert not bad.ok and "the signature does not match" in bad.reason
        assert (await c.status())["profile"] is None
        ok = await c.load_profile("clinic-signed")
        assert ok.ok, ok.reason
        async with ControlClient(s.path) as sub:
            items = sub.subscribe()
            await anext(items)
            assert (await c.command("start_session")).ok
            async with asyncio.timeout(2):
                async for item in items:
                    if item.type == "event" and item.event["name"] == "session_started":
                        data = item.event["data"]
                        break
            # What a session record is written from names the signer too.
            assert data["profile_sha256"] == hashlib.sha256(signed).hexdigest()
            assert data["profile_signer"] == "vendor"
            assert data["profile_signer_fingerprint"] == fingerprint(public)
            assert (await c.command("stop")).ok
        profile = (await c.status())["profile"]
        assert profile["name"] == "clinic-signed"
        assert profile["sha256"] == hashlib.sha256(signed).hexdigest()
        assert profile["signed"] is True
        assert profile["signer"] == "vendor"
        assert profile["signer_fingerprint"] == fingerprint(public)
        shipped = await c.load_profile("n2-face-cryomassage")
        assert shipped.ok, shipped.reason
        profile = (await c.status())["profile"]
        assert (profile["signed"], profile["signer"]) == (False, None)


async def test_without_required_signatures_unsigned_loads_and_shows_unsigned(
        tmp_path: Path) -> None:
    installed = tmp_path / "profiles"
    installed.mkdir()
    _install(installed, "clinic-unsigned", None)
    policy = SignaturePolicy.from_texts(
        required=False, keys={"vendor": public_key_text(generate_key().public_key())})
    async with serve(tmp_path, profile_dir=installed, signatures=policy) as s, \
            ControlClient(s.path) as c:
        assert (await c.load_profile("clinic-unsigned")).ok
        profile = (await c.status())["profile"]
        assert profile["signed"] is False
        assert profile["signer"] is None and profile["signer_fingerprint"] is None
