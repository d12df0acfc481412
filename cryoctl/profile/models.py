"""The shape of a treatment profile: pydantic models, one per TOML section.

The models check types and keys (unknown keys are errors, numbers must be
numbers, no coercion from strings). The numeric rules and hard ceilings live in
:mod:`cryoctl.profile.rules`; a :class:`Profile` runs them whenever it is built or
validated. ``model_copy(update=...)`` is pydantic's unchecked path: it validates
nothing, so code that copies with changes must run ``problems_of`` itself.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)

from cryoctl.profile.kinds import DeviceKind

__all__ = [
    "CjAirDevice",
    "N2Device",
    "Profile",
    "ProfileMeta",
    "SessionLimits",
    "TreatmentKind",
    "Zone",
]

#: Validation context key that leaves the rules to the caller (the loader runs them
#: itself, to report every problem with its key path).
DEFER_RULES = "cryoctl.profile.defer_rules"


class TreatmentKind(enum.StrEnum):
    CRYOMASSAGE = "cryomassage"
    LESION = "lesion"
    COLD_AIR = "cold-air"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ProfileMeta(_Section):
    """``[profile]``: who the profile is and where its numbers come from."""

    name: StrictStr
    title: StrictStr
    version: StrictInt
    device: DeviceKind
    kind: TreatmentKind
    description: StrictStr
    #: Published sources for the profile's numbers.
    references: tuple[StrictStr, ...]


class N2Device(_Section):
    """``[device]`` of an N2 profile: nozzle code and regulator set-point."""

    nozzle: StrictStr
    pressure_kpa: StrictFloat


class CjAirDevice(_Section):
    """``[device]`` of a CJ-Air profile: nozzle, blower, outlet and skin-temperature limits.

    The skin limits step down: at ``skin_reduce_c`` the flow is turned down, at
    ``skin_warn_c`` staff are warned, at ``skin_stop_c`` the flow stops.
    """

    nozzle: StrictStr
    airflow_level: StrictInt
    outlet_temp_c: StrictFloat
    skin_reduce_c: StrictFloat
    skin_warn_c: StrictFloat
    skin_stop_c: StrictFloat


class SessionLimits(_Section):
    """``[session]``: caps on one session and on a course of sessions."""

    max_session_s: StrictFloat
    #: LN2 budget of one session (N2 only; required there, forbidden for cold air).
    max_cryogen_g: StrictFloat | None = None
    #: Least time between two sessions of one patient.
    min_interval_h: StrictFloat
    max_course_sessions: StrictInt | None = None
    requires_cold_test: StrictBool
    #: Contraindications staff must confirm before a session starts.
    checklist: tuple[StrictStr, ...]


class Zone(_Section):
    """``[[zones]]``: one treatment zone, in the order the session visits them."""

    name: StrictStr
    #: Longest single continuous spray.
    max_dwell_s: StrictFloat
    #: All spray in the zone (per site), summed over passes.
    max_total_s: StrictFloat
    #: Freeze-thaw cycles.
    passes: StrictInt
    #: Rest (thaw) between two passes.
    rest_s: StrictFloat
    #: Sites of this zone one session may treat (lesions).
    repeat: StrictInt = 1


class Profile(BaseModel):
    """One treatment profile. Building or validating one checks every rule and ceiling."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    #: ``[profile]`` in the file; ``meta`` in code (a validation alias, so type checkers
    #: see ``Profile(meta=...)``).
    meta: ProfileMeta = Field(validation_alias="profile", serialization_alias="profile")
    device: N2Device | CjAirDevice
    session: SessionLimits
    zones: tuple[Zone, ...]

    @property
    def device_kind(self) -> DeviceKind:
        return self.meta.device

    @model_validator(mode="after")
    def _obey_rules(self, info: ValidationInfo) -> Profile:
        context: Any = info.context
        if isinstance(context, dict) and context.get(DEFER_RULES):
            return self
        # Imported here: the rules module reads these models.
        from cryoctl.profile.rules import problems_of

        problems = problems_of(self)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self
