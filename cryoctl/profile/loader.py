"""Read profile files: bytes -> TOML -> models -> rules, every failure a ProfileError.

Each problem is one line naming the source, the line where it is known, the key
path and the rule, e.g.
``bad.toml:14: zones[2].max_dwell_s: 7.0 exceeds the ceiling of 5 s for n2 cryomassage``.
Zones are counted from 0.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from pydantic import ValidationError

from cryoctl.errors import ProfileError
from cryoctl.profile.describe import problems_from_validation
from cryoctl.profile.models import DEFER_RULES, Profile
from cryoctl.profile.rules import problems_of
from cryoctl.profile.signing import SignaturePolicy, Signer, read_signature_for
from cryoctl.tomlfile import MAX_PROBLEMS, format_problems, parse_toml_bytes
from cryoctl.tomlfile import read_limited as _read_limited

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PROBLEMS",
    "LoadedProfile",
    "load_profile",
    "parse_profile",
    "read_limited",
]

#: Largest profile file accepted; real ones are a few KiB.
MAX_FILE_BYTES = 64 * 1024
#: Length of the SHA-256 prefix shown to people.
SHA_PREFIX_CHARS = 12

_WHAT = "profile file"


@dataclass(frozen=True, slots=True)
class LoadedProfile:
    """A valid profile with its identity: name, version and the SHA-256 of its bytes."""

    profile: Profile
    #: Hex SHA-256 of the file's bytes.
    sha256: str
    #: The file name it came from, or ``shipped:NAME.toml``.
    source: str
    #: The trusted key its detached signature verified under; None when unsigned
    #: (or loaded without a signature policy, or shipped with the software).
    signer: Signer | None = None

    @property
    def signed(self) -> bool:
        return self.signer is not None

    @property
    def name(self) -> str:
        return self.profile.meta.name

    @property
    def version(self) -> int:
        return self.profile.meta.version

    @property
    def sha256_prefix(self) -> str:
        return self.sha256[:SHA_PREFIX_CHARS]

    @property
    def identity(self) -> str:
        return f"{self.name} v{self.version} sha256:{self.sha256_prefix}"


def parse_profile(data: bytes, *, source: str, signature: bytes | None = None,
                  policy: SignaturePolicy | None = None) -> LoadedProfile:
    """Validate a profile file's bytes. Raises ProfileError with one line per problem.

    With a ``policy``, the detached ``signature`` (the ``.sig`` file's bytes, or None)
    is checked first: an unsigned profile where signatures are required, or one whose
    signature does not verify, is refused before its content is read.
    """
    signer = None if policy is None else policy.check(data, signature, source=source)
    text, raw = parse_toml_bytes(data, source=source, max_bytes=MAX_FILE_BYTES,
                                 what=_WHAT, error=ProfileError)
    try:
        # Files use the section names only: a [meta] table is an unknown key there.
        profile = Profile.model_validate(raw, by_alias=True, by_name=False,
                                         context={DEFER_RULES: True})
    except ValidationError as exc:
        problems = problems_from_validation(exc, raw)
        raise ProfileError(format_problems(source, text, problems)) from None
    broken = problems_of(profile)
    if broken:
        raise ProfileError(format_problems(source, text, broken))
    return LoadedProfile(profile=profile, sha256=hashlib.sha256(data).hexdigest(), source=source,
                         signer=signer)


def read_limited(path: str | os.PathLike[str]) -> bytes:
    """A regular profile file's bytes (at most ``MAX_FILE_BYTES``). Raises ProfileError."""
    return _read_limited(path, max_bytes=MAX_FILE_BYTES, what=_WHAT, error=ProfileError)


def load_profile(path: str | os.PathLike[str], *,
                 policy: SignaturePolicy | None = None) -> LoadedProfile:
    """Read and validate one profile file; the source is the path as given.

    With a ``policy``, its signature is ``PATH.sig`` beside it.
    """
    signature = None if policy is None else read_signature_for(path)
    return parse_profile(read_limited(path), source=os.fsdecode(path), signature=signature,
                         policy=policy)
