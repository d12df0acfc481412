"""Who may call what: every endpoint x {no token, staff, technician}, from one table.

Tokens end after their lifetime, after their idle time, and at logout (401).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import STAFF_PIN, TECHNICIAN_PIN, login
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from panel_fakes import FakeClock, FakeLink, app_routes
from profile_texts import VALID

from cryoctl.profile import shipped_profiles

FACE = next(p for p in shipped_profiles() if p.name == "n2-face-cryomassage")
START = {"profile": FACE.name, "patient_ref": "P-0042", "cold_test_done": True,
         "checklist": dict.fromkeys(FACE.profile.session.checklist, True)}
TOML = {"content": VALID, "headers": {"Content-Type": "application/toml"}}

OPEN = {"none": 200, "staff": 200, "technician": 200}
STAFF = {"none": 401, "staff": 200, "technician": 200}
TECHNICIAN = {"none": 401, "staff": 403, "technician": 200}

#: (method, path, request arguments, expected status by who calls).
TABLE: list[tuple[str, str, dict[str, Any], dict[str, int]]] = [
    ("POST", "/api/v1/login", {"json": {"pin": STAFF_PIN}}, OPEN),
    ("POST", "/api/v1/logout", {}, STAFF),
    ("GET", "/api/v1/status", {}, OPEN),
    ("GET", "/api/v1/profiles", {}, STAFF),
    ("GET", f"/api/v1/profiles/{FACE.name}", {}, STAFF),
    ("POST", "/api/v1/profiles", TOML, {**TECHNICIAN, "technician": 201}),
    ("POST", "/api/v1/session", {"json": START}, STAFF),
    ("POST", "/api/v1/session/pause", {}, STAFF),
    ("POST", "/api/v1/session/resume", {}, STAFF),
    ("POST", "/api/v1/session/stop", {}, STAFF),
    ("POST", "/api/v1/session/next-zone", {}, STAFF),
    ("POST", "/api/v1/session/next-site", {}, STAFF),
    ("POST", "/api/v1/session/dismiss", {}, STAFF),
    ("POST", "/api/v1/estop", {}, OPEN),
    ("POST", "/api/v1/estop/reset", {}, TECHNICIAN),
    ("POST", "/api/v1/faults/reset", {}, TECHNICIAN),
    ("POST", "/api/v1/alarms/ack", {"json": {"up_to_seq": 3}}, STAFF),
    ("POST", "/api/v1/alarms/ack", {}, STAFF),
    ("POST", "/api/v1/alarms/pause-audio", {}, STAFF),
    ("GET", "/api/v1/sessions", {}, STAFF),
    ("GET", "/api/v1/sessions/{session_id}", {}, STAFF),
    ("GET", "/api/v1/sessions/{session_id}/report", {}, STAFF),
    ("GET", "/api/v1/patients/{patient_ref}/course?profile=n2-face-cryomassage", {}, STAFF),
    ("GET", "/metrics", {}, OPEN),
    ("GET", "/openapi.json", {}, OPEN),
    # the touch panel's own settings: the locked screen shows and changes its language
    ("GET", "/api/v1/panel", {}, OPEN),
    ("PUT", "/api/v1/panel/language", {"json": {"language": "ru"}}, OPEN),
]

CASES = [pytest.param(method, path, kwargs, who, expected[who], id=f"{method} {path} {who}")
         for method, path, kwargs, expected in TABLE for who in ("none", "staff", "technician")]


@pytest.mark.parametrize(("method", "path", "kwargs", "who", "expected"), CASES)
async def test_role_table(client: httpx.AsyncClient, sign_in: Any, method: str, path: str,
                          kwargs: dict[str, Any], who: str, expected: int) -> None:
    headers = {**kwargs.get("headers", {}), **await sign_in(who)}
    answer = await client.request(method, path, **{**kwargs, "headers": headers})
    assert answer.status_code == expected, answer.text
    if expected == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    if expected >= 400:
        assert isinstance(answer.json()["detail"], str)


def test_table_names_every_route(app: FastAPI) -> None:
    served = list(app_routes(app.routes))
    routes = {(m, r.path) for r in served if isinstance(r, APIRoute) for m in r.methods}
    routes.add(("GET", "/openapi.json"))
    assert {(method, path.replace(FACE.name, "{name}").partition("?")[0])
            for method, path, _, _ in TABLE} == routes
    sockets = {r.path for r in served if isinstance(r, APIWebSocketRoute)}
    assert sockets == {"/api/v1/events"}  # open, as /status is: see test_events


async def test_estop_never_needs_a_token(client: httpx.AsyncClient, link: FakeLink) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}):
        answer = await client.post("/api/v1/estop", headers=headers)
        assert answer.status_code == 200
        assert answer.json() == {"acknowledged": True}
    assert link.names() == ["estop"] * 3


async def test_technician_token_says_its_role(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/v1/login", json={"pin": TECHNICIAN_PIN})
    assert answer.json()["role"] == "technician"
    assert answer.json()["expires_in_s"] == 600
    answer = await client.post("/api/v1/login", json={"pin": STAFF_PIN})
    assert answer.json()["role"] == "staff"


async def test_token_ends_after_its_lifetime(client: httpx.AsyncClient,
                                             clock: FakeClock) -> None:
    headers = await login(client, STAFF_PIN)
    for _ in range(5):  # used every 100 s: never idle for long, but 600 s pass
        clock.advance(100)
        assert (await client.post("/api/v1/session/pause", headers=headers)).status_code == 200
    clock.advance(100)
    answer = await client.post("/api/v1/session/pause", headers=headers)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


async def test_token_ends_when_idle(client: httpx.AsyncClient, clock: FakeClock) -> None:
    headers = await login(client, STAFF_PIN)
    clock.advance(119)
    assert (await client.post("/api/v1/session/pause", headers=headers)).status_code == 200
    clock.advance(119)  # the use above restarted the idle time
    assert (await client.post("/api/v1/session/pause", headers=headers)).status_code == 200
    clock.advance(120)
    assert (await client.post("/api/v1/session/pause", headers=headers)).status_code == 401


async def test_logout_revokes_only_that_token(client: httpx.AsyncClient) -> None:
    first = await login(client, STAFF_PIN)
    second = await login(client, STAFF_PIN)
    answer = await client.post("/api/v1/logout", headers=first)
    assert answer.json() == {"revoked": True}
    assert (await client.post("/api/v1/session/pause", headers=first)).status_code == 401
    assert (await client.post("/api/v1/logout", headers=first)).status_code == 401
    assert (await client.post("/api/v1/session/pause", headers=second)).status_code == 200


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/v1/alarms/pause-audio",
                               headers={"Authorization": "Bearer " + "x" * 43})
    assert answer.status_code == 401
