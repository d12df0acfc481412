"""Hard ceilings on treatment profiles.

No profile, shipped or installed, can raise these: they live in code, and every
profile is checked against them when it is loaded or built. Each constant names
its unit. Where a number comes from the device's interface document (ICD) it says
so; the others are clinical upper bounds for the treatment kind, set above every
shipped profile and well below the point where cold injures healthy tissue.
"""

from __future__ import annotations

from typing import Final

# --- every profile -----------------------------------------------------------------

#: Longest profile name (a slug: lower-case letters, digits, single hyphens).
NAME_MAX_CHARS: Final = 64
#: Highest profile version.
VERSION_MAX: Final = 1_000_000
#: Most zones one profile may list.
ZONES_MAX: Final = 32
#: Most freeze-thaw cycles (passes) in any zone, whatever the kind.
PASSES_MAX: Final = 10
#: Most sites of one zone a session may treat (lesion counts).
REPEAT_MAX: Final = 50
#: Longest treatment course.
COURSE_SESSIONS_MAX: Final = 60

# --- N2 cryodestructor (ICD rev C) ----------------------------------------------------

#: Nozzle codes of the N2 unit (ICD "Nozzles").
N2_NOZZLES: Final = ("A", "B", "C", "D", "M", "P")
#: Regulator set-point range (ICD ``PRESS``), kPa gauge.
N2_PRESSURE_MIN_KPA: Final = 20.0
N2_PRESSURE_MAX_KPA: Final = 150.0
#: Cryogen budget of one session: the dewar holds 0.5 L of LN2, about 400 g.
N2_MAX_CRYOGEN_G: Final = 400.0

#: Cryomassage: a moving fan spray over intact skin, never a freeze.
N2_CRYOMASSAGE_NOZZLES: Final = ("M", "A", "B")
N2_CRYOMASSAGE_MAX_DWELL_S: Final = 5.0
N2_CRYOMASSAGE_MAX_PASSES: Final = 3
N2_CRYOMASSAGE_MIN_REST_S: Final = 20.0
N2_CRYOMASSAGE_MAX_SESSION_S: Final = 1200.0

#: Lesion cryosurgery: a timed freeze of one lesion, then a full thaw before the next cycle.
N2_LESION_NOZZLES: Final = ("A", "B", "C", "D", "P")
N2_LESION_MAX_DWELL_S: Final = 30.0
N2_LESION_MAX_PASSES: Final = 3
N2_LESION_MIN_REST_S: Final = 30.0
N2_LESION_MAX_SESSION_S: Final = 1800.0

# --- CJ-Air cold-air unit (ICD rev B) -------------------------------------------------

#: Nozzle codes of the CJ-Air unit (ICD ``NOZZLE_ID``).
CJAIR_NOZZLES: Final = ("S6", "R10", "F20", "C30")
#: Blower levels (ICD ``AIRFLOW_LEVEL``).
CJAIR_AIRFLOW_LEVEL_MIN: Final = 1
CJAIR_AIRFLOW_LEVEL_MAX: Final = 9
#: Outlet set-point range (ICD ``TEMP_SETPOINT``), degrees Celsius.
CJAIR_OUTLET_TEMP_MIN_C: Final = -60.0
CJAIR_OUTLET_TEMP_MAX_C: Final = -20.0
#: The unit's own cap on one continuous opening (ICD ``MAX_OPEN_MS``, 500..60000).
CJAIR_MAX_OPEN_MS_MIN: Final = 500
CJAIR_MAX_OPEN_MS_MAX: Final = 60_000
#: MAX_OPEN_MS is written at each zone's start as its ``max_dwell_s`` plus this much,
#: so the unit's cap follows the zone yet never cuts a spray the host would allow:
#: it covers the control loop's lateness and a close write on a slow RTU line.
CJAIR_OPEN_CAP_MARGIN_S: Final = 0.5
#: Longest continuous cold-air exposure of one spot: what the unit itself can still
#: cap (MAX_OPEN_MS at most 60 s, less the margin).
CJAIR_MAX_DWELL_S: Final = CJAIR_MAX_OPEN_MS_MAX / 1000 - CJAIR_OPEN_CAP_MARGIN_S
CJAIR_MAX_SESSION_S: Final = 1200.0
#: Lowest skin temperature at which a profile may stop the flow; below ~2 degC frostbite begins.
CJAIR_MIN_SKIN_STOP_C: Final = 2.0
