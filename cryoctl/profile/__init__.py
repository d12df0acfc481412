"""Treatment profiles: TOML files checked against models, rules and hard ceilings.

A profile is one TOML file (``[profile]``, ``[device]``, ``[session]``, ``[[zones]]``),
identified by its name, version and the SHA-256 of its bytes. Loading never lets
an exception other than :class:`~cryoctl.errors.ProfileError` escape, and building
a :class:`Profile` that breaks a ceiling of :mod:`cryoctl.profile.ceilings` fails (only
pydantic's unchecked ``model_copy(update=...)`` skips the check).
"""

from __future__ import annotations

from cryoctl.profile.loader import MAX_FILE_BYTES, LoadedProfile, load_profile, parse_profile
from cryoctl.profile.models import (
    CjAirDevice,
    N2Device,
    Profile,
    ProfileMeta,
    SessionLimits,
    TreatmentKind,
    Zone,
)
from cryoctl.profile.rules import Problem, problems_of
from cryoctl.profile.shipped import shipped_profiles
from cryoctl.profile.store import (
    DEFAULT_PROFILE_DIR,
    PROFILE_DIR_ENV,
    catalogue,
    install_profile,
    installed_profiles,
)

__all__ = [
    "DEFAULT_PROFILE_DIR",
    "MAX_FILE_BYTES",
    "PROFILE_DIR_ENV",
    "CjAirDevice",
    "LoadedProfile",
    "N2Device",
    "Problem",
    "Profile",
    "ProfileMeta",
    "SessionLimits",
    "TreatmentKind",
    "Zone",
    "catalogue",
    "install_profile",
    "installed_profiles",
    "load_profile",
    "parse_profile",
    "problems_of",
    "shipped_profiles",
]
