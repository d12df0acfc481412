"""The clinic's rules at a session's start: pure functions, time injected, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryoctl.profile import SessionLimits, shipped_profiles
from cryoctl.records.course import course_status, start_refusal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def _limits(name: str = "n2-common-wart") -> SessionLimits:
    return next(p for p in shipped_profiles() if p.name == name).profile.session


def _all_confirmed(limits: SessionLimits) -> dict[str, bool]:
    return dict.fromkeys(limits.checklist, True)


def _refusal(limits: SessionLimits, past: list[datetime], now: datetime, *,
             role: str = "staff", reason: str | None = None, staff_may_override: bool = False,
             answers: dict[str, bool] | None = None, cold_test_done: bool = True,
             name: str = "n2-common-wart") -> tuple[str, bool] | None:
    course = course_status(name, limits, past, now_utc=now, course_gap_days=30)
    refusal = start_refusal(name, limits, course,
                            answers=_all_confirmed(limits) if answers is None else answers,
                            cold_test_done=cold_test_done, role=role, override_reason=reason,
                            staff_may_override=staff_may_override)
    return None if refusal is None else (refusal.text, refusal.overridable)


def test_a_first_session_may_start_and_leaves_the_whole_course() -> None:
    limits = _limits()  # 336 h apart, 6 a course
    status = course_status("n2-common-wart", limits, [], now_utc=T0, course_gap_days=30)
    assert (status.sessions_done, status.sessions_left, status.next_allowed_utc,
            status.refusal) == (0, 6, None, None)
    assert _refusal(limits, [], T0) is None


def test_the_interval_refuses_until_it_has_passed_and_names_the_date() -> None:
    limits = _limits()
    past = [T0]
    refused = _refusal(limits, past, T0 + 335 * H)
    assert refused is not None
    text, overridable = refused
    assert overridable
    assert "2026-03-02 09:00 UTC" in text and "2026-03-16 09:00 UTC" in text
    assert "336 h" in text and "a technician may override" in text
    status = course_status("n2-common-wart", limits, past, now_utc=T0 + H, course_gap_days=30)
    assert status.next_allowed_utc == T0 + 336 * H and status.sessions_left == 5
    assert _refusal(limits, past, T0 + 336 * H) is None


def test_the_course_count_refuses_the_seventh_session_of_a_running_course() -> None:
    limits = _limits()
    past = [T0 + i * 15 * D for i in range(6)]  # 15 days apart: one course
    now = past[-1] + 15 * D
    status = course_status("n2-common-wart", limits, past, now_utc=now, course_gap_days=30)
    assert status.sessions_done == 6 and status.sessions_left == 0
    assert status.next_allowed_utc == past[-1] + 30 * D + timedelta(seconds=1)
    refused = _refusal(limits, past, now)
    assert refused is not None and refused[1]
    assert "course of n2-common-wart is complete: 6 of 6 sessions" in refused[0]


def test_a_gap_longer_than_the_course_gap_starts_a_new_course() -> None:
    limits = _limits()
    past = [T0 + i * 15 * D for i in range(6)]
    later = past[-1] + 31 * D
    status = course_status("n2-common-wart", limits, past, now_utc=later, course_gap_days=30)
    assert (status.sessions_done, status.sessions_left, status.refusal) == (0, 6, None)
    # Sessions before a gap belong to an earlier course.
    past2 = [T0, T0 + 40 * D, T0 + 55 * D]
    status2 = course_status("n2-common-wart", limits, past2, now_utc=T0 + 70 * D,
                            course_gap_days=30)
    assert status2.sessions_done == 2 and status2.last_session_utc == T0 + 55 * D
    # A shorter configured gap splits the same sessions into more courses.
    status3 = course_status("n2-common-wart", limits, past, now_utc=past[-1] + 15 * D,
                            course_gap_days=14)
    assert status3.sessions_done == 0 and status3.refusal is None


def test_a_profile_without_a_course_size_counts_no_limit() -> None:
    limits = _limits("air-laser-adjunct")
    past = [T0 + i * 2 * D for i in range(40)]
    status = course_status("air-laser-adjunct", limits, past, now_utc=past[-1] + 2 * D,
                           course_gap_days=30)
    assert status.sessions_left is None and status.refusal is None
    assert status.sessions_done == 40


@pytest.mark.parametrize(("role", "staff_may_override", "reason", "allowed"), [
    ("technician", False, "lesion recurred, dermatologist's order 2026-03-05", True),
    ("technician", False, None, False),
    ("technician", False, "  ", False),
    ("staff", False, "lesion recurred", False),
    ("staff", True, "lesion recurred", True),
    ("staff", True, None, False),
])
def test_an_override_lifts_the_interval_only_with_a_reason_from_a_role_allowed(
        role: str, staff_may_override: bool, reason: str | None, allowed: bool) -> None:
    limits = _limits()
    refused = _refusal(limits, [T0], T0 + 24 * H, role=role, reason=reason,
                       staff_may_override=staff_may_override)
    if allowed:
        assert refused is None
        return
    assert refused is not None and refused[1]
    text = refused[0]
    if reason is None:
        assert "may override with a reason" in text
    elif reason.strip() == "":
        assert "needs its reason in words" in text
    else:
        assert "only a technician may override" in text


def test_an_override_lifts_the_course_count_too() -> None:
    limits = _limits()
    past = [T0 + i * 15 * D for i in range(6)]
    now = past[-1] + 15 * D
    assert _refusal(limits, past, now, role="technician", reason="second course agreed") is None


@pytest.mark.parametrize("role", ["staff", "technician"])
def test_the_checklist_and_cold_test_are_never_overridable(role: str) -> None:
    limits = _limits("n2-face-cryomassage")
    answers = _all_confirmed(limits)
    answers[limits.checklist[2]] = False
    refused = _refusal(limits, [], T0, role=role, reason="in a hurry", staff_may_override=True,
                       answers=answers, name="n2-face-cryomassage")
    assert refused == (f"checklist item not confirmed: {limits.checklist[2]}", False)
    refused = _refusal(limits, [], T0, role=role, cold_test_done=False,
                       name="n2-face-cryomassage")
    assert refused == ("n2-face-cryomassage requires a cold test first, and it is not done",
                       False)
    extra = {**_all_confirmed(limits), "Another profile's item": True}
    refused = _refusal(limits, [], T0, role=role, answers=extra, name="n2-face-cryomassage")
    assert refused is not None and "not on the checklist of n2-face-cryomassage" in refused[0]


def test_an_unknown_role_is_refused() -> None:
    refused = _refusal(_limits(), [], T0, role="visitor")
    assert refused is not None and "unknown role" in refused[0] and not refused[1]
