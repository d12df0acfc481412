"""Detached Ed25519 signatures of profile files, and the policy that checks them.

The vendor signs a profile's exact bytes (``cryoctl profile sign``); the signature
sits beside the file as ``NAME.toml.sig``, one line ``ed25519:BASE64``, so the
profile's SHA-256 identity stays the SHA-256 of its own bytes. A device trusts the
public keys named in its config (``[profiles] trusted_keys``), each written
``ed25519:BASE64`` of the 32 raw key bytes. A key is shown by its name and its
fingerprint: the first 16 hex digits of the SHA-256 of those raw bytes.

:class:`SignaturePolicy` decides, for one file's bytes and its signature (or none):
a signature that verifies under no trusted key is always refused (tampered, or
signed by a key this device does not trust); a missing one is refused only when
signatures are required.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from cryoctl.errors import ProfileError

__all__ = [
    "KEY_PREFIX",
    "MAX_SIGNATURE_FILE_BYTES",
    "SIGNATURE_SUFFIX",
    "SignaturePolicy",
    "Signer",
    "fingerprint",
    "generate_key",
    "load_private_key",
    "parse_public_key",
    "parse_signature",
    "private_key_pem",
    "public_key_text",
    "read_signature_for",
    "sign_bytes",
    "signature_path",
    "signature_text",
]

KEY_PREFIX: Final = "ed25519:"
#: The detached signature's file name is the profile's with this appended.
SIGNATURE_SUFFIX: Final = ".sig"
_RAW_KEY_BYTES: Final = 32
_RAW_SIGNATURE_BYTES: Final = 64
_FINGERPRINT_HEX: Final = 16
#: A signature file is one short line; anything much larger is not one.
MAX_SIGNATURE_FILE_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class Signer:
    """The trusted key a profile's signature verified under."""

    #: The key's name in the config's ``trusted_keys``.
    key_name: str
    fingerprint: str


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:_FINGERPRINT_HEX]


def _b64(text: str, *, size: int, what: str) -> bytes:
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"{what} must start with {KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX):].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64 after {KEY_PREFIX!r}") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from ``ed25519:BASE64``. ValueError naming what is wrong."""
    return Ed25519PublicKey.from_public_bytes(_b64(text, size=_RAW_KEY_BYTES,
                                                   what="a public key"))


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_signature(data: bytes) -> bytes:
    """The 64 raw signature bytes of a signature file. ValueError when it is not one."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError("a signature file is one ASCII line") from None
    return _b64(text, size=_RAW_SIGNATURE_BYTES, what="a signature")


def signature_text(signature: bytes) -> str:
    return KEY_PREFIX + base64.b64encode(signature).decode("ascii") + "\n"


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file. ProfileError naming the file otherwise."""
    name = os.fsdecode(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(f"{name}: cannot read the key ({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProfileError(f"{name}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ProfileError(f"{name}: not an Ed25519 key")
    return key


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def signature_path(profile_path: str | os.PathLike[str]) -> Path:
    path = Path(profile_path)
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def read_signature_for(profile_path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the signature file beside ``profile_path``, or None when it has none."""
    path = signature_path(profile_path)
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_SIGNATURE_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the signature "
                           f"({exc.strerror or exc})") from None


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """Which keys this device trusts, and whether every installed profile needs a signature."""

    required: bool = False
    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, *, required: bool, keys: Mapping[str, str]) -> SignaturePolicy:
        return cls(required=required,
                   keys={name: parse_public_key(text) for name, text in keys.items()})

    def check(self, data: bytes, signature: bytes | None, *, source: str) -> Signer | None:
        """The signer of ``data``, None when unsigned and allowed; ProfileError otherwise."""
        if signature is None:
            if self.required:
                raise ProfileError(f"{source}: unsigned; this device requires profiles signed "
                                   f"by a trusted key ({self._known()})")
            return None
        if len(signature) > MAX_SIGNATURE_FILE_BYTES:
            raise ProfileError(f"{source}{SIGNATURE_SUFFIX}: too large to be a signature")
        try:
            raw = parse_signature(signature)
        except ValueError as exc:
            raise ProfileError(f"{source}{SIGNATURE_SUFFIX}: {exc}") from None
        if not self.keys:
            if self.required:  # the config refuses this; kept for a policy built by hand
                raise ProfileError(f"{source}: no trusted keys to verify the signature with")
            return None
        for name, key in self.keys.items():
            try:
                key.verify(raw, data)
            except InvalidSignature:
                continue
            return Signer(key_name=name, fingerprint=fingerprint(key))
        raise ProfileError(f"{source}: the signature does not match the profile's bytes under "
                           f"any trusted key ({self._known()}): the file was changed after "
                           "signing, or signed by another key")

    def _known(self) -> str:
        shown = ", ".join(f"{name} {fingerprint(key)}" for name, key in self.keys.items())
        return f"trusted: {shown or 'none'}"
