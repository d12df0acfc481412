"""What a control-socket request names: the staff command, or the profile to load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryoctl.core.staff import (
    Acknowledge,
    Dismiss,
    NextSite,
    NextZone,
    Pause,
    PauseAudio,
    ResetEstop,
    ResetFaults,
    Resume,
    StaffCommand,
    StartSession,
    Stop,
)
from cryoctl.errors import ProfileError
from cryoctl.profile import LoadedProfile, catalogue, shipped_profiles
from cryoctl.profile.signing import SignaturePolicy
from cryoctl.protocol import CommandRequest

__all__ = ["find_profile", "staff_command"]


_SIMPLE_COMMANDS: Final[dict[str, Callable[[], StaffCommand]]] = {
    "start_session": StartSession,
    "pause": Pause,
    "resume": Resume,
    "stop": Stop,
    "next_zone": NextZone,
    "next_site": NextSite,
    "dismiss": Dismiss,
    "pause_audio": PauseAudio,
    "reset_estop": ResetEstop,
    "reset_faults": ResetFaults,
}


def staff_command(request: CommandRequest) -> StaffCommand:
    """The staff command a ``command`` request names. ValueError for a misplaced field."""
    if request.command == "acknowledge":
        return Acknowledge(up_to_seq=request.up_to_seq)
    if request.up_to_seq is not None:
        raise ValueError(f"up_to_seq belongs to acknowledge, not {request.command}")
    return _SIMPLE_COMMANDS[request.command]()


def find_profile(name: str, sha256: str | None, directory: Path | None,
                 signatures: SignaturePolicy | None = None) -> LoadedProfile:
    """A profile by name among the shipped and the installed ones in ``directory``.

    An installed file the ``signatures`` policy refuses (unsigned where signatures
    are required, or tampered) is not among them: loading it names why.

    Without ``sha256`` its highest version (shipped first on a tie); with it, the
    version with exactly those bytes. ProfileError when there is none. Reads files:
    call it off the loop's thread.
    """
    skipped: list[str] = []
    if directory is None:
        profiles = shipped_profiles()
    else:
        profiles, skipped = catalogue(directory, signatures)
    matches = [p for p in profiles if p.name == name]
    if not matches:
        refused = [line for line in skipped if f"/{name}-v" in line]
        if refused:
            raise ProfileError(f"{name}: refused: {'; '.join(refused)}")
        raise ProfileError(f"{name}: no such profile")
    if sha256 is not None:
        for loaded in matches:
            if loaded.sha256 == sha256:
                return loaded
        found = ", ".join(p.identity for p in matches)
        raise ProfileError(f"{name}: no version has sha256 {sha256} (found {found})")
    best = max(p.version for p in matches)
    return next(p for p in matches if p.version == best)
