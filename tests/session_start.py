"""Start a session over the control socket as the panel does: under the clinic's rules.

Where records are kept, the control process starts a session only through the
``start_session`` request, which names the patient and answers the profile's
checklist; the bare staff command is refused. Tests that need a session and are not
about those rules confirm every item of a shipped profile for a patient of their own
(a new one each time, so the interval rule never stands in the way).
"""

from __future__ import annotations

import itertools
import os

from cryoctl.client import ControlClient
from cryoctl.profile import shipped_profiles
from cryoctl.protocol import SessionStartReply

__all__ = ["confirmed_start", "every_item"]

_patients = itertools.count(1)


def every_item(profile: str) -> dict[str, bool]:
    """The shipped profile's checklist, every item confirmed."""
    limits = next(p for p in shipped_profiles() if p.name == profile).profile.session
    return dict.fromkeys(limits.checklist, True)


async def confirmed_start(client: ControlClient, profile: str) -> SessionStartReply:
    """``start_session`` on the loaded shipped ``profile``, checklist and cold test confirmed."""
    patient = f"T-{os.getpid()}-{next(_patients)}"
    return await client.start_session(patient_ref=patient, checklist=every_item(profile),
                                      cold_test_done=True)
