"""``POST /api/v1/profiles`` under a signature policy, over HTTP on a real TCP port.

The signature travels in ``X-Profile-Signature``; when the config requires
signatures, an unsigned or tampered upload is 422 with a message and nothing is
written, and the list shows each installed profile's signer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import TECHNICIAN_PIN, make_config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from panel_fakes import FakeLink, free_port, serving

from cryoctl.config import Config
from cryoctl.panel.app import make_server
from cryoctl.profile.signing import fingerprint, public_key_text, signature_text

LENTIGO = (Path(__file__).resolve().parents[2] / "profiles" / "n2-lentigo.toml").read_bytes()
CLINIC = LENTIGO.replace(b'name = "n2-lentigo"', b'name = "clinic-lentigo"', 1)
KEY = Ed25519PrivateKey.generate()
TOML = {"Content-Type": "application/toml"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, Config]]:
    port = free_port()
    config = make_config(tmp_path, api={"bind": "127.0.0.1", "port": port},
                         profiles={"require_signatures": True,
                                   "trusted_keys": {"vendor": public_key_text(KEY.public_key())}})
    server = make_server(config, FakeLink())
    with serving(server), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        token = client.post("/api/v1/login", json={"pin": TECHNICIAN_PIN}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, config


def test_an_unsigned_upload_is_refused_when_signatures_are_required(
        served: tuple[httpx.Client, Config]) -> None:
    client, config = served
    answer = client.post("/api/v1/profiles", content=CLINIC, headers=TOML)
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "the profile's signature is refused"
    assert body["problems"] == [f"upload: unsigned; this device requires profiles signed by a "
                                f"trusted key (trusted: vendor {fingerprint(KEY.public_key())})"]
    assert not (config.data.dir / "profiles").exists()


def test_a_tampered_or_garbled_upload_is_refused(served: tuple[httpx.Client, Config]) -> None:
    client, config = served
    signature = signature_text(KEY.sign(CLINIC)).strip()
    tampered = CLINIC.replace(b"Solar lentigo", b"Solar lentigO")
    answer = client.post("/api/v1/profiles", content=tampered,
                         headers={**TOML, "X-Profile-Signature": signature})
    assert answer.status_code == 422
    assert "the signature does not match the profile's bytes" in answer.json()["problems"][0]
    garbled = client.post("/api/v1/profiles", content=CLINIC,
                          headers={**TOML, "X-Profile-Signature": "ed25519:!!"})
    assert garbled.status_code == 422
    assert garbled.json()["problems"] == [
        "upload.sig: a signature is not valid base64 after 'ed25519:'"]
    assert not (config.data.dir / "profiles").exists()


def test_a_signed_upload_installs_and_the_list_shows_its_signer(
        served: tuple[httpx.Client, Config]) -> None:
    client, config = served
    signature = signature_text(KEY.sign(CLINIC)).strip()
    answer = client.post("/api/v1/profiles", content=CLINIC,
                         headers={**TOML, "X-Profile-Signature": signature})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    fp = fingerprint(KEY.public_key())
    assert (body["signed"], body["signer"], body["signer_fingerprint"]) == (True, "vendor", fp)
    folder = config.data.dir / "profiles"
    assert (folder / "clinic-lentigo-v1.toml").read_bytes() == CLINIC
    assert (folder / "clinic-lentigo-v1.toml.sig").read_text() == signature + "\n"
    listed = client.get("/api/v1/profiles").json()
    clinic = next(p for p in listed["profiles"] if p["name"] == "clinic-lentigo")
    assert (clinic["signed"], clinic["signer"], clinic["signer_fingerprint"]) == (True, "vendor",
                                                                                    fp)
    shipped = next(p for p in listed["profiles"] if p["name"] == "n2-lentigo")
    assert shipped["signed"] is False
    # The installed file changed behind the server's back: left out, with the reason.
    (folder / "clinic-lentigo-v1.toml").write_bytes(CLINIC.replace(b"Solar", b"Polar"))
    listed = client.get("/api/v1/profiles").json()
    assert all(p["name"] != "clinic-lentigo" for p in listed["profiles"])
    assert len(listed["skipped"]) == 1 and "does not match" in listed["skipped"][0]
