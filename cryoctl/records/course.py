"""The clinic's rules at a session's start, as pure functions of what the records hold.

Nothing here reads a clock or a database: the caller passes ``now_utc`` and the
start times of the patient's earlier sessions with the profile.

- **Checklist and cold test** (never overridable): every contraindication the
  profile lists answered ``true``, none that it does not list, and the cold test
  done when the profile ``requires_cold_test``.
- **Interval**: the last session with this profile ended less than
  ``min_interval_h`` before ``now_utc``.
- **Course count**: a course is the run of one patient's sessions with one profile
  with no gap longer than ``course_gap_days``; ``max_course_sessions`` of them are
  already done in the running course.

The two course rules may be lifted by an override with a reason, from a
technician, or from staff where the config allows it (:func:`start_refusal`).
Which sessions count is the caller's choice (the control process counts those
that sprayed: a session that delivered no cold does not use up the course).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryoctl.profile import SessionLimits

__all__ = [
    "MIN_OVERRIDE_REASON_CHARS",
    "CourseStatus",
    "Refusal",
    "checklist_problems",
    "course_status",
    "start_refusal",
]

#: An override's reason must say something: at least this many characters.
MIN_OVERRIDE_REASON_CHARS: Final = 3
ROLES: Final = ("staff", "technician")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class CourseStatus:
    profile: str
    #: Sessions in the running course (0 when the next one starts a new course).
    sessions_done: int
    #: None when the profile sets no course size.
    sessions_left: int | None
    last_session_utc: datetime | None
    #: When the next session may start without an override (None: now).
    next_allowed_utc: datetime | None
    #: Why a session may not start now, in words staff understand (None: it may).
    refusal: str | None

    @property
    def overridable(self) -> bool:
        return self.refusal is not None


@dataclass(frozen=True, slots=True)
class Refusal:
    text: str
    #: An override with a reason (from a role allowed to give one) would lift it.
    overridable: bool


def course_status(profile: str, limits: SessionLimits, past_utc: Sequence[datetime], *,
                  now_utc: datetime, course_gap_days: int) -> CourseStatus:
    """Where this patient stands in the course of ``profile`` at ``now_utc``."""
    gap = timedelta(days=course_gap_days)
    times = sorted(t for t in past_utc if t <= now_utc)
    course: list[datetime] = []
    for at in times:
        if course and at - course[-1] > gap:
            course = []
        course.append(at)
    last = times[-1] if times else None
    if last is not None and now_utc - last > gap:
        course = []  # the next session begins a new course
    done = len(course)
    most = limits.max_course_sessions
    left = None if most is None else max(0, most - done)
    interval_ends = None if last is None else last + timedelta(hours=limits.min_interval_h)
    refusal: str | None = None
    next_allowed: datetime | None = None
    if most is not None and done >= most and last is not None:
        next_allowed = last + gap + timedelta(seconds=1)
        refusal = (f"the course of {profile} is complete: {done} of {most} sessions; a new "
                   f"course may start from {_when(next_allowed)} ({course_gap_days} days "
                   "after the last session)")
    elif last is not None and interval_ends is not None and now_utc < interval_ends:
        next_allowed = interval_ends
        refusal = (f"this patient had {profile} on {_when(last)}; "
                   f"the next session is allowed from {_when(interval_ends)} "
                   f"(at least {limits.min_interval_h:g} h between sessions)")
    return CourseStatus(profile=profile, sessions_done=done, sessions_left=left,
                        last_session_utc=last, next_allowed_utc=next_allowed, refusal=refusal)


def checklist_problems(profile: str, limits: SessionLimits, answers: Mapping[str, bool],
                       cold_test_done: bool) -> list[str]:
    """What the start leaves unconfirmed for this profile, in words staff act on."""
    problems = [f"checklist item not confirmed: {item}"
                for item in limits.checklist if answers.get(item) is not True]
    problems += [f"not on the checklist of {profile}: {item}"
                 for item in answers if item not in limits.checklist]
    if limits.requires_cold_test and not cold_test_done:
        problems.append(f"{profile} requires a cold test first, and it is not done")
    return problems


def start_refusal(profile: str, limits: SessionLimits, course: CourseStatus, *,
                  answers: Mapping[str, bool], cold_test_done: bool, role: str,
                  override_reason: str | None, staff_may_override: bool) -> Refusal | None:
    """Why this start is refused (None: it may start; an override, if any, then lifts a rule)."""
    if role not in ROLES:
        return Refusal(f"unknown role {role!r}: a session is started by staff or a technician",
                       overridable=False)
    problems = checklist_problems(profile, limits, answers, cold_test_done)
    if problems:
        return Refusal("; ".join(problems), overridable=False)
    if course.refusal is None:
        return None
    if override_reason is None:
        who = "a technician" if not staff_may_override else "staff or a technician"
        return Refusal(f"{course.refusal}; {who} may override with a reason", overridable=True)
    if role == "staff" and not staff_may_override:
        return Refusal(f"{course.refusal}; only a technician may override", overridable=True)
    if len(override_reason.strip()) < MIN_OVERRIDE_REASON_CHARS:
        return Refusal(f"{course.refusal}; an override needs its reason in words",
                       overridable=True)
    return None
