"""The records' routes: each is one socket request, passed on; the report is rendered here."""

from __future__ import annotations

import json
from importlib.resources import files

import httpx
import pytest
from conftest import STAFF_PIN, TECHNICIAN_PIN, login
from panel_fakes import SESSION_ID, FakeLink, make_session
from profile_texts import VALID

from cryoctl.panel.report import LANGUAGES, catalogue

ESTOP_ALARM = {"code": "estop", "priority": "high", "raised_utc": "2026-03-02T09:03:01.250Z",
               "acknowledged_utc": None, "cleared_utc": "2026-03-02T09:05:00.000Z",
               "text": "Emergency stop: cold flow cut", "detail": "panel"}


@pytest.fixture
async def staff(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, STAFF_PIN)


async def test_the_list_passes_its_filters_on(client: httpx.AsyncClient, link: FakeLink,
                                              staff: dict[str, str]) -> None:
    link.records_data["sessions"] = {"sessions": [{"id": SESSION_ID}]}
    answer = await client.get("/api/v1/sessions?patient=P-0042&since=2026-03-01&limit=5",
                              headers=staff)
    assert answer.status_code == 200 and answer.json() == {"sessions": [{"id": SESSION_ID}]}
    assert link.calls[-1] == ("records", "sessions",
                              {"patient": "P-0042", "since": "2026-03-01", "limit": 5})
    link.records_refused["sessions"] = "since: not a date or time: 'soon'"
    answer = await client.get("/api/v1/sessions?since=soon", headers=staff)
    assert (answer.status_code, answer.json()["detail"]) == (
        400, "since: not a date or time: 'soon'")


async def test_one_session_or_404(client: httpx.AsyncClient, link: FakeLink,
                                  staff: dict[str, str]) -> None:
    answer = await client.get(f"/api/v1/sessions/{SESSION_ID}", headers=staff)
    assert answer.status_code == 200 and answer.json()["zones"][0]["name"] == "forehead"
    del link.records_data["session"]
    answer = await client.get("/api/v1/sessions/nope", headers=staff)
    assert answer.status_code == 404 and "no session nope" in answer.json()["detail"]
    answer = await client.get("/api/v1/sessions/nope/report", headers=staff)
    assert answer.status_code == 404


async def test_the_course_of_a_patient(client: httpx.AsyncClient, link: FakeLink,
                                       staff: dict[str, str]) -> None:
    answer = await client.get("/api/v1/patients/P-0042/course?profile=n2-face-cryomassage",
                              headers=staff)
    assert answer.status_code == 200
    assert set(answer.json()) == {"patient_ref", "profile", "sessions_done", "sessions_left",
                                  "last_session_utc", "next_allowed_utc", "refusal",
                                  "overridable"}
    assert link.calls[-1] == ("records", "course",
                              {"patient_ref": "P-0042", "profile": "n2-face-cryomassage"})
    link.records_refused["course"] = "no profile nothing"
    answer = await client.get("/api/v1/patients/P-0042/course?profile=nothing", headers=staff)
    assert answer.status_code == 404
    link.down = True
    answer = await client.get("/api/v1/patients/P-0042/course?profile=x", headers=staff)
    assert answer.status_code == 503


async def test_report_of_a_completed_session_shows_its_key_figures(
        client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    answer = await client.get(f"/api/v1/sessions/{SESSION_ID}/report", headers=staff)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "@page { size: A4" in page and '<html lang="en">' in page
    for figure in ("P-0042", "n2-face-cryomassage", "ab" * 32, "SN-0001",
                   "2026-03-02T09:00:00.000Z", "1. forehead", "4.8", "3.8", "2. cheek-left",
                   "2.5", "2.0", "<strong>7.2</strong>", "<strong>5.8</strong>",
                   "completed", "No alarms during the session.", "staff",
                   "No cold urticaria (cold test done and negative)"):
        assert figure in page, figure


async def test_report_of_an_estopped_session_in_russian(
        client: httpx.AsyncClient, link: FakeLink, staff: dict[str, str]) -> None:
    link.records_data["session"] = make_session(outcome="estop", reason="panel",
                                                alarms=[ESTOP_ALARM])
    page = (await client.get(f"/api/v1/sessions/{SESSION_ID}/report?lang=ru",
                             headers=staff)).text
    assert '<html lang="ru">' in page
    ru = catalogue("ru")
    for figure in (ru["title"], ru["outcome_estop"], ru["priority_high"], ru["zones"],
                   "Emergency stop: cold flow cut", "2026-03-02T09:03:01.250Z",
                   "2026-03-02T09:05:00.000Z", "P-0042", "<strong>7.2</strong>"):
        assert figure in page, figure
    assert "No alarms" not in page


async def test_report_values_are_escaped(client: httpx.AsyncClient, link: FakeLink,
                                         staff: dict[str, str]) -> None:
    session = make_session()
    session["patient_ref"] = "<script>x</script>"
    link.records_data["session"] = session
    page = (await client.get(f"/api/v1/sessions/{SESSION_ID}/report", headers=staff)).text
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_every_report_language_has_every_text() -> None:
    keys = [set(json.loads(files("cryoctl.panel.report").joinpath("i18n", f"{lang}.json")
                           .read_text("utf-8"))) for lang in LANGUAGES]
    assert all(k == keys[0] for k in keys)
    assert all(all(v.strip() for v in catalogue(lang).values()) for lang in LANGUAGES)


async def test_login_logout_and_failed_login_are_audited(client: httpx.AsyncClient,
                                                         link: FakeLink) -> None:
    staff = await login(client, STAFF_PIN)
    await client.post("/api/v1/login", json={"pin": "0000"})
    await client.post("/api/v1/logout", headers=staff)
    actions = [(a[0], a[1]) for a in link.audits]
    assert actions == [("login", "staff"), ("login_failed", None), ("logout", "staff")]
    assert link.audits[0][2] == link.audits[2][2] and len(link.audits[0][2] or "") == 16


async def test_a_profile_install_is_audited(client: httpx.AsyncClient, link: FakeLink) -> None:
    technician = await login(client, TECHNICIAN_PIN)
    answer = await client.post("/api/v1/profiles", content=VALID, headers={
        **technician, "Content-Type": "application/toml"})
    assert answer.status_code == 201, answer.text
    installed = [a for a in link.audits if a[0] == "profile_installed"]
    assert len(installed) == 1
    _action, role, _token, detail = installed[0]
    assert role == "technician" and detail["sha256"] == answer.json()["sha256"]
