"""The records through the whole device: simulator, ``cryoctl run``, ``cryoctl panel``, HTTP.

Sessions are started and ended through the panel's API, sprayed through the
simulator's control channel; then the records are read back over HTTP (list, one
session, the treatment report of a completed and an e-stopped session, the course)
and with the CLI, read-only, from the database file.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from procs import Children, cryoctl, terminate, wait_for
from records_rig import Device, answers, open_intervals

from cryoctl.pins import hash_pin

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

STAFF_PIN, TECH_PIN = "2468", "97531"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _connected(api: httpx.Client) -> bool:
    try:
        return api.get("/api/v1/status").json().get("link") == "connected"
    except httpx.HTTPError:
        return False


@pytest.fixture
def whole(tmp_path: Path) -> Iterator[tuple[Device, httpx.Client]]:
    port = _free_port()
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, "n2")
        text = device.config.read_text()
        device.config.write_text(
            text + f'\n[api]\nbind = "127.0.0.1"\nport = {port}\n\n[auth]\n'
            f'staff_pin_hash = "{hash_pin(STAFF_PIN)}"\n'
            f'technician_pin_hash = "{hash_pin(TECH_PIN)}"\n')
        device.start_daemon()
        children.start("panel", "panel", "--config", str(device.config))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            wait_for(lambda: _connected(api), 20, "the panel reaches the control process")
            yield device, api
        terminate(device.daemon)


def _login(api: httpx.Client, pin: str) -> dict[str, str]:
    answer = api.post("/api/v1/login", json={"pin": pin})
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


def _phase(api: httpx.Client) -> str:
    return str(api.get("/api/v1/status").json()["snapshot"]["phase"])


def _wait_phase(api: httpx.Client, *phases: str) -> None:
    wait_for(lambda: _phase(api) in phases, 10, f"phase {phases}")


def _start(api: httpx.Client, headers: dict[str, str], patient: str,
           **extra: Any) -> httpx.Response:
    body = {"profile": "n2-face-cryomassage", "patient_ref": patient, "cold_test_done": True,
            "checklist": answers("n2-face-cryomassage"), **extra}
    return api.post("/api/v1/session", json=body, headers=headers)


def _spray(device: Device, api: httpx.Client, seconds: float) -> None:
    device.trigger(True)
    _wait_phase(api, "treating_spraying")
    time.sleep(seconds)
    device.trigger(False)
    _wait_phase(api, "treating_armed", "treating_resting")


def test_sessions_their_reports_and_the_course_over_http_and_the_cli(
        whole: tuple[Device, httpx.Client]) -> None:
    device, api = whole
    staff = _login(api, STAFF_PIN)
    # A completed session: a spray in the first zone, every zone visited, stopped.
    answer = _start(api, staff, "P-7")
    assert answer.status_code == 200, answer.text
    _wait_phase(api, "treating_armed")
    _spray(device, api, 0.5)
    while api.post("/api/v1/session/next-zone", headers=staff).status_code == 200:
        pass
    assert api.post("/api/v1/session/stop", headers=staff).status_code == 200
    _wait_phase(api, "completed")
    wait_for(lambda: device.sim.state()["valve_open"] is False, 3, "the unit shut")
    completed_spans = open_intervals(device.history())
    # The same patient again: refused with the date, overridable, and a staff override is 403.
    again = _start(api, staff, "P-7")
    assert again.status_code == 409 and again.json()["overridable"] is True
    assert "the next session is allowed from" in again.json()["detail"]
    assert _start(api, staff, "P-7", override={"reason": "physician"}).status_code == 403
    # An e-stopped session for another patient.
    if _phase(api) == "completed":
        assert api.post("/api/v1/session/dismiss", headers=staff).status_code == 200
    assert _start(api, staff, "P-8").status_code == 200
    _wait_phase(api, "treating_armed")
    device.trigger(True)
    _wait_phase(api, "treating_spraying")
    time.sleep(0.4)
    assert api.post("/api/v1/estop").json()["acknowledged"] is True
    device.trigger(False)

    listed = api.get("/api/v1/sessions", headers=staff).json()["sessions"]
    assert [s["patient_ref"] for s in listed] == ["P-8", "P-7"]  # newest first
    estopped, completed = listed
    assert set(completed) == {"id", "profile", "device_kind", "patient_ref", "started_utc",
                              "ended_utc", "outcome", "reason", "started_by_role", "spray_s"}
    assert (completed["outcome"], estopped["outcome"]) == ("completed", "estop")
    assert api.get("/api/v1/sessions?patient=P-7", headers=staff).json()["sessions"] == [
        completed]
    assert api.get("/api/v1/sessions", headers={}).status_code == 401

    detail = api.get(f"/api/v1/sessions/{completed['id']}", headers=staff).json()
    assert abs(detail["totals"]["spray_s"] - sum(completed_spans)) <= 0.02
    assert detail["zones"][0]["spray_s"] == detail["totals"]["spray_s"] > 0
    assert detail["zones"][0]["passes"] == 1 and detail["zones"][0]["ln2_g"] > 0
    assert detail["unit"]["serial"] and detail["cold_test_done"] is True
    assert detail["sprays"][0]["ended_by"] == "release"
    page = api.get(f"/api/v1/sessions/{completed['id']}/report", headers=staff).text
    zone = detail["zones"][0]
    for figure in ("P-7", detail["profile"]["sha256"], "completed",
                   f"1. {zone['name']}", f"{zone['spray_s']:.1f}", f"{zone['ln2_g']:.1f}",
                   detail["started_utc"], detail["unit"]["serial"]):
        assert figure in page, figure
    # A loaded machine may raise loop_late in it: the report lists whatever was raised.
    for alarm in detail["alarms"]:
        assert alarm["text"] in page and alarm["raised_utc"] in page
    assert ("No alarms during the session." in page) == (not detail["alarms"])

    stop = api.get(f"/api/v1/sessions/{estopped['id']}", headers=staff).json()
    estop = next(a for a in stop["alarms"] if a["code"] == "estop")
    assert estop["priority"] == "high"
    page = api.get(f"/api/v1/sessions/{estopped['id']}/report?lang=ru", headers=staff).text
    for figure in ("P-8", "аварийная остановка", "Emergency stop: cold flow cut", "высокий",
                   f"{stop['totals']['spray_s']:.1f}", estop["raised_utc"]):
        assert figure in page, figure

    course = api.get("/api/v1/patients/P-7/course?profile=n2-face-cryomassage",
                     headers=staff).json()
    assert course["sessions_done"] == 1 and course["sessions_left"] == 14
    assert course["overridable"] is True and course["refusal"]
    assert course["next_allowed_utc"] > course["last_session_utc"]
    fresh = api.get("/api/v1/patients/P-99/course?profile=n2-face-cryomassage",
                    headers=staff).json()
    assert (fresh["sessions_done"], fresh["refusal"], fresh["overridable"]) == (0, None, False)

    # The CLI reads the same records, read-only, from the file.
    out = cryoctl("records", "--db", str(device.db), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sessions"] == listed
    out = cryoctl("records", "--db", str(device.db), "--csv", "--patient", "P-8")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["patient_ref"], r["outcome"]) for r in rows] == [("P-8", "estop")]
    out = cryoctl("records", "--config", str(device.config), "--since", "2000-01-01")
    assert out.returncode == 0 and "P-7" in out.stdout and "P-8" in out.stdout
    out = cryoctl("records", "show", completed["id"], "--db", str(device.db))
    assert out.returncode == 0 and f"sha256:{detail['profile']['sha256']}" in out.stdout
    assert "zone 1" in out.stdout
    assert cryoctl("records", "show", "nope", "--db", str(device.db)).returncode == 1
    bad = cryoctl("records", "--db", str(device.db), "--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr
    missing = cryoctl("records", "--db", str(device.db.parent / "none.db"))
    assert missing.returncode == 2 and "none.db" in missing.stderr
    assert "Traceback" not in missing.stderr + bad.stderr
    # Login, the failed start's override attempt and the e-stop are all in the audit trail.
    audit = [r["action"] for r in device.rows("SELECT action FROM audit ORDER BY id")]
    assert audit[:2] == ["config_changed", "login"]  # the first start's config, then staff
    assert "estop" in audit and audit.count("session_started") == 2
    verified = cryoctl("audit", "verify", "--db", str(device.db))
    assert verified.returncode == 0 and "whole" in verified.stdout
