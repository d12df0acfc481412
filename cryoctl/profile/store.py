"""Installed profiles: a folder of ``NAME-vVERSION.toml`` files beside the shipped ones.

Installing validates first, refuses to give a name and version that already exist
(installed or shipped) other content, does nothing for the same bytes again, and
writes atomically: a temporary file in the same folder, fsync, rename, fsync of the
folder. A failure leaves neither a half-written profile nor the temporary file.

With a :class:`~cryoctl.profile.signing.SignaturePolicy`, a profile's detached
signature is checked on install and on every load, and installed beside it as
``NAME-vVERSION.toml.sig`` (written before the profile, so a profile on disk never
lacks the signature it was installed with). Without a policy a signature is still
installed with its profile, and checked at load. Shipped profiles are part of the
installed software and are not signature-checked; they show as unsigned.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryoctl.errors import ProfileError
from cryoctl.profile.loader import LoadedProfile, load_profile, parse_profile, read_limited
from cryoctl.profile.shipped import shipped_profiles
from cryoctl.profile.signing import (
    SIGNATURE_SUFFIX,
    SignaturePolicy,
    parse_signature,
    read_signature_for,
    signature_path,
    signature_text,
)

__all__ = [
    "DEFAULT_PROFILE_DIR",
    "PROFILE_DIR_ENV",
    "InstallResult",
    "Installed",
    "catalogue",
    "file_name_for",
    "install_profile",
    "install_profile_bytes",
    "installed_profiles",
]

#: Where technicians' profiles live (systemd/cryoctl.tmpfiles.conf creates it).
DEFAULT_PROFILE_DIR = Path("/var/lib/cryoctl/profiles")
#: Environment variable that overrides DEFAULT_PROFILE_DIR.
PROFILE_DIR_ENV = "CRYOCTL_PROFILE_DIR"
#: Mode of installed files: the service user reads, its group reads.
_FILE_MODE = 0o640


class Installed(enum.StrEnum):
    WRITTEN = "installed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class InstallResult:
    loaded: LoadedProfile
    path: Path | None
    outcome: Installed
    #: Why nothing was written, when nothing was.
    note: str = ""


def file_name_for(loaded: LoadedProfile) -> str:
    return f"{loaded.name}-v{loaded.version}.toml"


def installed_profiles(
    directory: Path, policy: SignaturePolicy | None = None
) -> tuple[list[LoadedProfile], list[str]]:
    """Every valid profile in ``directory``, and one line per problem with the others.

    A missing folder holds no profiles and is no problem. With a ``policy``, a file
    whose signature it refuses is one of the others.
    """
    if not directory.exists():
        return [], []
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".toml"
                       and not p.name.startswith("."))
    except OSError as exc:
        return [], [f"{directory}: cannot list ({exc.strerror or exc})"]
    loaded: list[LoadedProfile] = []
    problems: list[str] = []
    for path in paths:
        try:
            loaded.append(load_profile(path, policy=policy))
        except ProfileError as exc:
            problems.extend(exc.problems)
    return loaded, problems


def catalogue(
    directory: Path, policy: SignaturePolicy | None = None
) -> tuple[list[LoadedProfile], list[str]]:
    """Shipped profiles, then installed ones, with the problems of the others.

    An installed file is left out, with a problem, when it is broken or when its name
    and version already belong to other content (shipped, or an earlier file): a name
    and version must mean one profile.
    """
    installed, problems = installed_profiles(directory, policy)
    profiles = shipped_profiles()
    known = {(p.name, p.version): p for p in profiles}
    for loaded in installed:
        first = known.setdefault((loaded.name, loaded.version), loaded)
        if first is loaded or first.sha256 == loaded.sha256:
            profiles.append(loaded)
        else:
            problems.append(f"{loaded.source}: {loaded.name} v{loaded.version} has other "
                            f"content than {first.identity} ({first.source}); left out")
    return profiles, problems


def _same_identity(
    new: LoadedProfile, others: Iterable[LoadedProfile], where: str
) -> InstallResult | None:
    for other in others:
        if (other.name, other.version) != (new.name, new.version):
            continue
        if other.sha256 == new.sha256:
            return InstallResult(new, None, Installed.UNCHANGED,
                                 f"{where} with the same content ({other.source})")
        raise ProfileError(
            f"{new.source}: {new.name} v{new.version} is already {where} with other content "
            f"({other.identity}, {other.source}); give the new content a new version"
        )
    return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(target: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                     dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _FILE_MODE)
        os.rename(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(target.parent)


def _keep_signature(new: LoadedProfile, signature: bytes | None, profile_path: Path) -> None:
    """Write the signature sent with ``new`` beside ``profile_path`` (canonical form).

    A signature the policy verified, or one installed without a policy (or without
    trusted keys) to be checked at every load: it goes with the profile either way.
    """
    if signature is None:
        return
    try:
        text = signature_text(parse_signature(signature)).encode("ascii")
    except ValueError as exc:
        raise ProfileError(f"{new.source}{SIGNATURE_SUFFIX}: {exc}") from None
    path = signature_path(profile_path)
    if not path.is_file() or read_limited(path) != text:
        _write_atomically(path, text)


@contextlib.contextmanager
def _locked(directory: Path, *, wait_s: float = 5.0, poll_s: float = 0.05) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` so two installs cannot race.

    Raises BlockingIOError when another install holds it for longer than ``wait_s``.
    """
    attempts = max(1, round(wait_s / poll_s))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for attempt in range(attempts):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 == attempts:
                    raise
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)  # releases the lock


def install_profile(
    path: str | os.PathLike[str], directory: Path, *, lock_wait_s: float = 5.0,
    policy: SignaturePolicy | None = None,
) -> InstallResult:
    """Validate ``path`` and install it into ``directory`` as ``NAME-vVERSION.toml``.

    Its signature, ``PATH.sig`` beside it, is checked by the ``policy`` and installed
    with it (without a policy, it is only checked at load). Raises ProfileError
    for an invalid, conflicting or refused profile, OSError when the folder cannot be
    written (or another install holds it too long).
    """
    signature = read_signature_for(path)
    return install_profile_bytes(read_limited(path), directory, source=os.fsdecode(path),
                                 lock_wait_s=lock_wait_s, signature=signature, policy=policy)


def install_profile_bytes(
    data: bytes, directory: Path, *, source: str, lock_wait_s: float = 5.0,
    signature: bytes | None = None, policy: SignaturePolicy | None = None,
) -> InstallResult:
    """Validate a profile's bytes and install them into ``directory`` (an upload).

    The same checks and the same atomic write as :func:`install_profile`; ``source``
    names the bytes in every problem line. A ``signature`` the ``policy`` did not
    refuse is installed beside the profile, in its canonical one-line form.
    """
    new = parse_profile(data, source=source, signature=signature, policy=policy)
    unchanged = _same_identity(new, shipped_profiles(), "shipped")
    if unchanged is not None:
        return unchanged
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory, wait_s=lock_wait_s):
        installed, _ = installed_profiles(directory)
        unchanged = _same_identity(new, installed, "installed")
        target = directory / file_name_for(new)
        if unchanged is not None:
            # The same bytes again: a signature now sent goes beside the installed file.
            same = next(p for p in installed if p.sha256 == new.sha256)
            _keep_signature(new, signature, Path(same.source))
            return unchanged
        if target.exists():
            # Present but not a valid profile of this identity (broken, or another inside).
            if target.is_file() and read_limited(target) == data:
                _keep_signature(new, signature, target)
                return InstallResult(new, target, Installed.UNCHANGED,
                                     "installed with the same bytes")
            raise ProfileError(f"{new.source}: {target} already exists with other content; "
                               "remove or fix it first")
        # Before the profile: a signed profile never sits on disk without its signature.
        _keep_signature(new, signature, target)
        _write_atomically(target, data)
    return InstallResult(new, target, Installed.WRITTEN)
