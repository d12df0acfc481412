"""Read profile files: bytes -> TOML -> models -> rules, every failure a ProfileError.

Each problem is one line naming the source, the line where it is known, the key
path and the rule, e.g.
``bad.toml:14: zones[2].max_dwell_s: 7.0 exceeds the ceiling of 5 s for n2 cryomassage``.
Zones are counted from 0.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cryoctl.errors import ProfileError
from cryoctl.profile.describe import problems_from_validation
from cryoctl.profile.locate import KeyLines
from cryoctl.profile.models import DEFER_RULES, Profile
from cryoctl.profile.rules import Problem, problems_of

__all__ = ["MAX_FILE_BYTES", "LoadedProfile", "load_profile", "parse_profile"]

#: Largest profile file accepted; real ones are a few KiB.
MAX_FILE_BYTES = 64 * 1024
#: Most problems reported for one file; the rest are counted.
MAX_PROBLEMS = 100
#: Length of the SHA-256 prefix shown to people.
SHA_PREFIX_CHARS = 12

_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_END = re.compile(r"^(?P<msg>.*?) \(at end of document\)$")


@dataclass(frozen=True, slots=True)
class LoadedProfile:
    """A valid profile with its identity: name, version and the SHA-256 of its bytes."""

    profile: Profile
    #: Hex SHA-256 of the file's bytes.
    sha256: str
    #: The file name it came from, or ``shipped:NAME.toml``.
    source: str

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


def _too_big(source: str, size: int, *, grew: bool = False) -> ProfileError:
    amount = f"more than {MAX_FILE_BYTES} bytes" if grew else f"{size} bytes"
    return ProfileError(f"{source}: {amount} exceed the limit of {MAX_FILE_BYTES} bytes "
                        "for a profile file")


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_POSITION.match(message)
        if at:
            raise ProfileError(f"{source}:{at['line']}: TOML syntax: {at['msg']} "
                               f"(column {at['col']})") from None
        end = _TOML_END.match(message)
        if end:
            raise ProfileError(f"{source}: TOML syntax: {end['msg']} at the end of the file"
                               ) from None
        raise ProfileError(f"{source}: TOML syntax: {message}") from None
    except RecursionError:
        raise ProfileError(f"{source}: TOML syntax: values nested too deeply") from None
    except ValueError:
        # tomllib lets int() refuse an integer too long to convert (over 4300 digits).
        raise ProfileError(f"{source}: TOML syntax: an integer has too many digits") from None


def _format(source: str, text: str, problems: list[Problem]) -> list[str]:
    located = KeyLines(text)
    lines = []
    for problem in problems[:MAX_PROBLEMS]:
        line = located.line_of(problem.path) if problem.path else None
        where = f"{source}:{line}" if line is not None else source
        lines.append(f"{where}: {problem}")
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"{source}: {len(problems) - MAX_PROBLEMS} more problems not shown")
    return lines


def parse_profile(data: bytes, *, source: str) -> LoadedProfile:
    """Validate a profile file's bytes. Raises ProfileError with one line per problem."""
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(source, len(data))
    if not data.strip():
        raise ProfileError(f"{source}: the file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        raise ProfileError(f"{source}: starts with a byte-order mark; save it as UTF-8 "
                           "without one")
    text = _decode(data, source)
    raw = _parse_toml(text, source)
    try:
        # Files use the section names only: a [meta] table is an unknown key there.
        profile = Profile.model_validate(raw, by_alias=True, by_name=False,
                                         context={DEFER_RULES: True})
    except ValidationError as exc:
        raise ProfileError(_format(source, text, problems_from_validation(exc, raw))) from None
    problems = problems_of(profile)
    if problems:
        raise ProfileError(_format(source, text, problems))
    return LoadedProfile(profile=profile, sha256=hashlib.sha256(data).hexdigest(), source=source)


def read_limited(path: str | os.PathLike[str]) -> bytes:
    """A regular file's bytes, refusing directories, devices and files above the limit.

    Never reads more than ``MAX_FILE_BYTES + 1`` bytes. Raises ProfileError.
    """
    name = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ProfileError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ProfileError(f"{name}: is a directory, not a profile file") from None
    except OSError as exc:
        raise ProfileError(f"{name}: cannot open ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise ProfileError(f"{name!r}: not a usable path ({exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ProfileError(f"{name}: is a directory, not a profile file")
        if not stat.S_ISREG(info.st_mode):
            raise ProfileError(f"{name}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(name, info.st_size)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(name, len(data), grew=True)
    return data


def load_profile(path: str | os.PathLike[str]) -> LoadedProfile:
    """Read and validate one profile file; the source is the path as given."""
    return parse_profile(read_limited(path), source=os.fsdecode(path))
