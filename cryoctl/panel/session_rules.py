"""The seam for the clinic's rules on starting a session (records, courses).

``POST /api/v1/session`` checks what the request itself must show (the profile
exists, its checklist is confirmed, its cold test done) and then asks the
:class:`SessionRules` it was built with, before anything is sent to the control
process. The rules that need the session records go there when the records exist:
``min_interval_h`` since the patient's last session, ``max_course_sessions`` in a
course (``records.course_gap_days``), and which of those an override may lift.
Until then :class:`NoSessionRules` allows every start.

``started`` is called once the control process has accepted ``start_session``
(for instance to note the patient reference against the session the control
process records: the socket's ``start_session`` carries no patient data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryoctl.panel.tokens import Role
from cryoctl.profile import LoadedProfile

__all__ = ["NoSessionRules", "SessionPlan", "SessionRules"]


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """A start that passed the request's own checks."""

    profile: LoadedProfile
    patient_ref: str
    #: Who asked.
    role: Role
    #: Why a soft limit may be lifted, when the request asked for an override
    #: (already checked to be allowed for ``role``).
    override_reason: str | None


class SessionRules(Protocol):
    async def refusal(self, plan: SessionPlan) -> str | None:
        """Why this session may not start (409), or None when it may."""
        ...

    async def started(self, plan: SessionPlan) -> None:
        """The control process accepted the start."""
        ...


class NoSessionRules:
    """Until the records exist: every start passes, nothing is noted."""

    async def refusal(self, plan: SessionPlan) -> str | None:
        return None

    async def started(self, plan: SessionPlan) -> None:
        return None
