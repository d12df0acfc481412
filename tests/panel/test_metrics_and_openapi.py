"""/metrics counts what happened and shows the latest snapshot; /openapi.json lists every route."""

from __future__ import annotations

import httpx
from conftest import STAFF_PIN, WRONG_PIN, login, make_config
from fastapi import FastAPI
from fastapi.routing import APIRoute
from panel_fakes import FakeClock, FakeLink, app_routes, make_snapshot
from prometheus_client.parser import text_string_to_metric_families

from cryoctl.core.machine import Phase
from cryoctl.panel import create_app

ALARMS = [{"code": "o2_low", "priority": 3, "category": "physiological", "message": "O2 low",
           "detail": "", "raised_at_s": 3.0, "condition_present": True, "acknowledged": False,
           "seq": 4, "latching": False},
          {"code": "dwell_cutoff", "priority": 1, "category": "technical", "message": "cut",
           "detail": "", "raised_at_s": 4.0, "condition_present": False, "acknowledged": True,
           "seq": 5, "latching": False}]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_counters_after_some_requests(client: httpx.AsyncClient, link: FakeLink,
                                            clock: FakeClock) -> None:
    staff = await login(client, STAFF_PIN)
    await client.post("/api/v1/login", json={"pin": WRONG_PIN})
    await client.post("/api/v1/estop")
    await client.post("/api/v1/estop")
    await client.post("/api/v1/session/pause", headers=staff)
    await client.get("/api/v1/status")
    await client.get("/api/v1/profiles/{name}")
    await client.get("/nowhere")
    await client.get("/api/v1/status", headers={"Host": "evil.example"})
    link.push({"v": 1, "type": "event", "event": {"seq": 1, "at_s": 1.0,
                                                  "name": "state_changed", "data": {}}})
    await link.until(handled=1)
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    got = samples(answer.text)
    assert got[("cryoctl_panel_estops_requested_total", ())] == 2
    assert got[("cryoctl_panel_logins_failed_total", ())] == 1
    api = "cryoctl_panel_api_requests_total"
    assert got[(api, (("method", "POST"), ("route", "/api/v1/estop"), ("status", "200")))] == 2
    assert got[(api, (("method", "POST"), ("route", "/api/v1/login"), ("status", "401")))] == 1
    assert got[(api, (("method", "GET"), ("route", "/api/v1/status"), ("status", "200")))] == 1
    assert got[(api, (("method", "GET"), ("route", "/api/v1/profiles/{name}"),
                      ("status", "401")))] == 1
    assert got[(api, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert got[(api, (("method", "GET"), ("route", "unmatched"), ("status", "403")))] == 1
    socket = "cryoctl_panel_socket_messages_total"
    assert got[(socket, (("direction", "sent"), ("type", "estop")))] == 2
    assert got[(socket, (("direction", "received"), ("type", "estop")))] == 2
    assert got[(socket, (("direction", "sent"), ("type", "command")))] == 1
    # One reply to the command, one to each audit row (the login and the failed one).
    assert got[(socket, (("direction", "sent"), ("type", "audit")))] == 2
    assert got[(socket, (("direction", "received"), ("type", "reply")))] == 3
    assert got[(socket, (("direction", "sent"), ("type", "status")))] == 1
    assert got[(socket, (("direction", "received"), ("type", "event")))] == 1
    assert got[("cryoctl_control_link_up", ())] == 1


async def test_gauges_follow_the_latest_snapshot(app: FastAPI, client: httpx.AsyncClient,
                                                 link: FakeLink) -> None:
    first = make_snapshot(3, phase="ready")
    second = make_snapshot(4, phase="treating_spraying", alarms=ALARMS)
    second["metrics"] = {  # the seam: numbers the control process measures
        "loop_late_cycles": 2,
        "cycle_s": {"buckets": [[0.001, 10], [0.005, 48], ["+Inf", 50]], "sum": 0.12},
        "broken": {"buckets": "no"},
    }
    for snapshot in (first, second):
        link.push({"v": 1, "type": "snapshot", "snapshot": snapshot})
    await link.until(handled=2)
    got = samples((await client.get("/metrics")).text)
    states = {labels[0][1]: value for (name, labels), value in got.items()
              if name == "cryoctl_state"}
    assert states == {phase.value: 1.0 if phase is Phase.SPRAYING else 0.0 for phase in Phase}
    assert got[("cryoctl_snapshot_seq", ())] == 4
    assert got[("cryoctl_healthy", ())] == 1
    assert got[("cryoctl_alarms_active", (("code", "o2_low"), ("priority", "high")))] == 1
    assert got[("cryoctl_alarms_active", (("code", "dwell_cutoff"), ("priority", "low")))] == 1
    assert got[("cryoctl_control_loop_late_cycles", ())] == 2
    assert got[("cryoctl_control_cycle_s_bucket", (("le", "0.005"),))] == 48
    assert got[("cryoctl_control_cycle_s_count", ())] == 50
    assert not any(name.startswith("cryoctl_control_broken") for name, _ in got)


async def test_two_apps_count_apart(app: FastAPI, client: httpx.AsyncClient) -> None:
    other = create_app(make_config(app.state.panel.config.data.dir), FakeLink())
    await client.post("/api/v1/estop")
    assert "cryoctl_panel_estops_requested_total 0.0" in other.state.panel.metrics.exposition(
    ).decode()


async def test_openapi_lists_every_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["info"]["title"] == "cryoctl panel API"
    assert "WS /api/v1/events" in document["info"]["description"]
    listed = {(method.upper(), path) for path, item in document["paths"].items()
              for method in item}
    served = {(m, r.path) for r in app_routes(app.routes) if isinstance(r, APIRoute)
              for m in r.methods}
    assert listed == served
    assert len(served) == 25  # and /openapi.json itself
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation.get("summary"), path
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    estop = document["paths"]["/api/v1/estop"]["post"]
    assert "security" not in estop
    assert "security" in document["paths"]["/api/v1/estop/reset"]["post"]
    upload = document["paths"]["/api/v1/profiles"]["post"]["requestBody"]["content"]
    assert set(upload) == {"text/plain", "application/toml"}
