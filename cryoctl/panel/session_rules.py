"""A seam for rules of the panel's own on starting a session (none by default).

The clinic's rules that need the session records (``min_interval_h`` since the
patient's last session, ``max_course_sessions`` in a course, which of them an
override may lift) live in the control process, applied at the socket's
``start_session`` (:mod:`cryoctl.records.course`), so every client meets them.
``POST /api/v1/session`` checks what the request itself must show and then asks
the :class:`SessionRules` it was built with, before anything is sent to the
control process; :class:`NoSessionRules`, the default, allows every start.

``started`` is called once the control process has accepted ``start_session``.
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
