"""The profiles that ship with cryoctl, read from the ``cryoctl.profiles`` package data."""

from __future__ import annotations

import functools
from importlib import resources

from cryoctl.profile.loader import LoadedProfile, parse_profile

__all__ = ["SHIPPED_PACKAGE", "shipped_profiles"]

SHIPPED_PACKAGE = "cryoctl.profiles"


@functools.cache
def _load_all() -> tuple[LoadedProfile, ...]:
    folder = resources.files(SHIPPED_PACKAGE)
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".toml") and entry.is_file()),
        key=lambda entry: entry.name,
    )
    return tuple(
        parse_profile(entry.read_bytes(), source=f"shipped:{entry.name}") for entry in entries
    )


def shipped_profiles() -> list[LoadedProfile]:
    """Every shipped profile, sorted by file name. A broken one raises ProfileError."""
    return list(_load_all())
