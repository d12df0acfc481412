"""Starting a session: the request's own checks, then load_profile and start_session, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import STAFF_PIN, TECHNICIAN_PIN, login, make_config, running
from panel_fakes import FakeClock, FakeLink

from cryoctl.panel import SessionPlan, create_app
from cryoctl.profile import shipped_profiles

FACE = next(p for p in shipped_profiles() if p.name == "n2-face-cryomassage")
NO_COLD_TEST = next(p for p in shipped_profiles() if not p.profile.session.requires_cold_test)


def body(profile: Any = FACE, **changes: Any) -> dict[str, Any]:
    start = {"profile": profile.name, "patient_ref": "P-0042", "cold_test_done": True,
             "checklist": dict.fromkeys(profile.profile.session.checklist, True)}
    return {**start, **changes}


@pytest.fixture
async def staff(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, STAFF_PIN)


async def test_happy_path_loads_then_starts(client: httpx.AsyncClient, link: FakeLink,
                                            staff: dict[str, str]) -> None:
    answer = await client.post("/api/v1/session", json=body(), headers=staff)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "profile": {
        "name": FACE.name, "version": FACE.version, "sha256": FACE.sha256}}
    assert link.names() == ["load_profile", "start_session"]
    assert link.calls[0] == ("load_profile", FACE.name, FACE.sha256)
    fields = link.start_fields()
    assert fields["patient_ref"] == "P-0042" and fields["role"] == "staff"
    assert fields["profile_sha256"] == FACE.sha256 and fields["cold_test_done"] is True
    assert fields["checklist"] == dict.fromkeys(FACE.profile.session.checklist, True)
    assert fields["override_reason"] is None and len(fields["token_id"]) == 16


async def test_missing_checklist_item_is_409_naming_it(client: httpx.AsyncClient,
                                                       link: FakeLink,
                                                       staff: dict[str, str]) -> None:
    items = list(FACE.profile.session.checklist)
    checklist = dict.fromkeys(items, True)
    del checklist[items[2]]
    checklist[items[4]] = False
    answer = await client.post("/api/v1/session", json=body(checklist=checklist), headers=staff)
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert f"checklist item not confirmed: {items[2]}" in detail
    assert f"checklist item not confirmed: {items[4]}" in detail
    assert items[0] not in detail
    assert link.calls == []


async def test_an_item_of_another_checklist_is_refused(client: httpx.AsyncClient,
                                                       link: FakeLink,
                                                       staff: dict[str, str]) -> None:
    checklist = {**dict.fromkeys(FACE.profile.session.checklist, True), "Some other item": True}
    answer = await client.post("/api/v1/session", json=body(checklist=checklist), headers=staff)
    assert answer.status_code == 409
    assert "not on the checklist of n2-face-cryomassage: Some other item" in answer.json()["detail"]
    assert link.calls == []


async def test_cold_test_required(client: httpx.AsyncClient, link: FakeLink,
                                  staff: dict[str, str]) -> None:
    answer = await client.post("/api/v1/session", json=body(cold_test_done=False), headers=staff)
    assert answer.status_code == 409
    assert answer.json()["detail"] == ("n2-face-cryomassage requires a cold test first, "
                                       "and it is not done")
    assert link.calls == []


async def test_cold_test_not_needed_when_not_required(client: httpx.AsyncClient,
                                                      link: FakeLink,
                                                      staff: dict[str, str]) -> None:
    start = body(NO_COLD_TEST, cold_test_done=False)
    answer = await client.post("/api/v1/session", json=start, headers=staff)
    assert answer.status_code == 200
    assert link.names() == ["load_profile", "start_session"]


async def test_unknown_profile_or_content(client: httpx.AsyncClient, link: FakeLink,
                                          staff: dict[str, str]) -> None:
    answer = await client.post("/api/v1/session", json={**body(), "profile": "no-such"},
                               headers=staff)
    assert (answer.status_code, answer.json()) == (
        409, {"detail": "no profile no-such", "overridable": False})
    answer = await client.post("/api/v1/session", json=body(sha256="0" * 64), headers=staff)
    assert answer.status_code == 409
    assert "with that SHA-256" in answer.json()["detail"]
    assert link.calls == []


async def test_refused_load_stops_before_start(client: httpx.AsyncClient, link: FakeLink,
                                               staff: dict[str, str]) -> None:
    link.replies["load_profile"] = (False, "nozzle M does not match the fitted nozzle C")
    answer = await client.post("/api/v1/session", json=body(), headers=staff)
    assert answer.status_code == 409
    assert answer.json() == {"detail": "nozzle M does not match the fitted nozzle C",
                             "overridable": False}
    assert link.names() == ["load_profile"]


async def test_refused_start_is_409_with_the_reason(client: httpx.AsyncClient, link: FakeLink,
                                                    staff: dict[str, str]) -> None:
    link.replies["start_session"] = (False, "the unit is not ready")
    answer = await client.post("/api/v1/session", json=body(), headers=staff)
    assert (answer.status_code, answer.json()) == (
        409, {"detail": "the unit is not ready", "overridable": False})


async def test_a_course_refusal_says_whether_an_override_would_lift_it(
        client: httpx.AsyncClient, link: FakeLink, staff: dict[str, str]) -> None:
    link.replies["start_session"] = (False, "this patient had n2-face-cryomassage on 2026-03-02 "
                                            "09:00 UTC; the next session is allowed from ...")
    link.start_overridable = True
    answer = await client.post("/api/v1/session", json=body(), headers=staff)
    assert answer.status_code == 409
    assert answer.json()["overridable"] is True
    assert answer.json()["detail"].startswith("this patient had n2-face-cryomassage")


async def test_override_needs_a_technician_unless_staff_may(client: httpx.AsyncClient,
                                                            link: FakeLink,
                                                            staff: dict[str, str]) -> None:
    start = body(override={"reason": "course extended by the physician"})
    answer = await client.post("/api/v1/session", json=start, headers=staff)
    assert answer.status_code == 403
    technician = await login(client, TECHNICIAN_PIN)
    answer = await client.post("/api/v1/session", json=start, headers=technician)
    assert answer.status_code == 200
    fields = link.start_fields()
    assert (fields["role"], fields["override_reason"]) == (
        "technician", "course extended by the physician")


class RecordingRules:
    def __init__(self, refusal: str | None = None) -> None:
        self.refuse_with = refusal
        self.asked: list[SessionPlan] = []
        self.started_plans: list[SessionPlan] = []

    async def refusal(self, plan: SessionPlan) -> str | None:
        self.asked.append(plan)
        return self.refuse_with

    async def started(self, plan: SessionPlan) -> None:
        self.started_plans.append(plan)


async def test_session_rules_seam(tmp_path: Path, link: FakeLink, clock: FakeClock) -> None:
    config = make_config(tmp_path, auth={"staff_may_override": True})
    rules = RecordingRules("48 h have not passed since the last session")
    async with running(create_app(config, link, clock=clock, rules=rules)) as client:
        staff = await login(client, STAFF_PIN)
        answer = await client.post("/api/v1/session", json=body(), headers=staff)
        assert (answer.status_code, answer.json()) == (
            409, {"detail": "48 h have not passed since the last session", "overridable": False})
        assert link.calls == []
        rules.refuse_with = None
        start = body(override={"reason": "physician's order"})
        assert (await client.post("/api/v1/session", json=start, headers=staff)).status_code == 200
    plan = rules.started_plans[0]
    assert (plan.profile.sha256, plan.patient_ref, plan.role.value, plan.override_reason) == (
        FACE.sha256, "P-0042", "staff", "physician's order")
    assert len(rules.asked) == 2


@pytest.mark.parametrize(("path", "command"), [
    ("/api/v1/session/pause", "pause"), ("/api/v1/session/resume", "resume"),
    ("/api/v1/session/stop", "stop"), ("/api/v1/session/next-zone", "next_zone"),
    ("/api/v1/session/next-site", "next_site"), ("/api/v1/session/dismiss", "dismiss"),
    ("/api/v1/alarms/pause-audio", "pause_audio"),
])
async def test_commands_reach_the_link_and_refusals_are_409(
        client: httpx.AsyncClient, link: FakeLink, staff: dict[str, str], path: str,
        command: str) -> None:
    assert (await client.post(path, headers=staff)).json() == {"ok": True}
    link.replies[command] = (False, "no further zone")
    answer = await client.post(path, headers=staff)
    assert (answer.status_code, answer.json()) == (409, {"detail": "no further zone"})
    assert link.calls == [("command", command, None)] * 2


async def test_acknowledge_passes_the_sequence(client: httpx.AsyncClient, link: FakeLink,
                                               staff: dict[str, str]) -> None:
    await client.post("/api/v1/alarms/ack", json={"up_to_seq": 41}, headers=staff)
    await client.post("/api/v1/alarms/ack", headers=staff)
    await client.post("/api/v1/alarms/ack", json={}, headers=staff)
    assert link.calls == [("command", "acknowledge", 41), ("command", "acknowledge", None),
                          ("command", "acknowledge", None)]


async def test_technician_resets(client: httpx.AsyncClient, link: FakeLink) -> None:
    technician = await login(client, TECHNICIAN_PIN)
    await client.post("/api/v1/estop/reset", headers=technician)
    await client.post("/api/v1/faults/reset", headers=technician)
    assert link.names() == ["command:reset_estop", "command:reset_faults"]


async def test_estop_waits_for_the_answer_and_says_when_it_was_not_delivered(
        client: httpx.AsyncClient, link: FakeLink) -> None:
    link.estop_acknowledged = False
    answer = await client.post("/api/v1/estop")
    assert (answer.status_code, answer.json()) == (200, {"acknowledged": False})
    link.down = True
    answer = await client.post("/api/v1/estop")
    assert answer.status_code == 503
    assert "NOT delivered" in answer.json()["detail"]
    assert "STOP button on the unit" in answer.json()["detail"]
    assert link.calls == [("estop", "panel")] * 2


async def test_a_link_that_hangs_is_unreachable(tmp_path: Path, clock: FakeClock) -> None:
    class Hanging(FakeLink):
        async def estop(self, source: str) -> bool:
            self.calls.append(("estop", source))
            await asyncio.sleep(30)
            return True

    app = create_app(make_config(tmp_path), Hanging(), clock=clock, call_timeout_s=0.05)
    async with running(app) as client:
        answer = await client.post("/api/v1/estop")
    assert answer.status_code == 503
