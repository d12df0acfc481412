"""Refusals before any route (Host, Origin, body size) and errors: all JSON, no traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import STAFF_PIN, login
from panel_fakes import FakeLink, WsClient

from cryoctl.panel.guard import HostRules, split_host


@pytest.mark.parametrize("host", ["testserver", "127.0.0.1:8080", "LOCALHOST", "a.clinic.example",
                                  "b.a.clinic.example:443"])
async def test_allowed_hosts_pass(client: httpx.AsyncClient, host: str) -> None:
    answer = await client.get("/api/v1/status", headers={"Host": host})
    assert answer.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "clinic.example", "testserver.evil",
                                  "127.0.0.2", "[::1]:80", "testserver:x", ""])
async def test_other_hosts_are_refused(client: httpx.AsyncClient, link: FakeLink,
                                       host: str) -> None:
    answer = await client.post("/api/v1/session/pause", headers={"Host": host})
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/json"
    assert "host" in answer.json()["detail"]
    assert link.calls == []


@pytest.mark.parametrize("origin", ["http://testserver", "https://localhost:8443",
                                    "http://x.clinic.example"])
async def test_allowed_origins_pass(client: httpx.AsyncClient, origin: str) -> None:
    answer = await client.post("/api/v1/estop", headers={"Origin": origin})
    assert answer.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "ftp://testserver",
                                    "http://testserver:99999", "http://testserver/path",
                                    "http://user@testserver"])
async def test_other_origins_are_refused(client: httpx.AsyncClient, link: FakeLink,
                                         origin: str) -> None:
    answer = await client.post("/api/v1/estop", headers={"Origin": origin})
    assert answer.status_code == 403
    assert answer.json() == {"detail": "requests from this origin are not accepted"}
    assert link.calls == []


def test_host_header_parsing() -> None:
    assert split_host("Example.COM:8080") == "example.com"
    assert split_host("[::1]:8080") == "::1"
    assert split_host("[::1]") == "::1"
    assert split_host("::1") is None
    assert split_host("host:") is None
    rules = HostRules(["::1", "*.lan"])
    assert rules.allows(split_host("[::1]:80"))
    assert rules.allows("panel.lan") and not rules.allows("lan")
    assert HostRules(["*"]).allows("anything.at.all")


async def test_websocket_from_another_origin_is_denied(app: object) -> None:
    ws = WsClient(app, headers=[("Origin", "http://evil.example")])
    first = await ws.connect()
    assert first["type"] == "websocket.http.response.start"
    assert first["status"] == 403
    body = await ws.next_message()
    assert b"origin" in body["body"]
    await ws.finished()


async def test_websocket_denied_by_close_without_the_extension(app: object) -> None:
    ws = WsClient(app, host="evil.example", denial_extension=False)
    first = await ws.connect()
    assert first == {"type": "websocket.close", "code": 1008,
                     "reason": "this host name is not served here (api.allowed_hosts)"}


async def test_declared_oversized_body_is_413_json(client: httpx.AsyncClient,
                                                   link: FakeLink) -> None:
    answer = await client.post("/api/v1/login", content=b"{" + b" " * 5000 + b"}",
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body exceeds 4096 bytes"}


async def test_streamed_oversized_body_is_413_json(client: httpx.AsyncClient) -> None:
    headers = await login(client, STAFF_PIN)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    # No Content-Length: the limit is found while the body is read.
    answer = await client.post("/api/v1/session", content=chunks(),
                               headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body exceeds 4096 bytes"}


async def test_malformed_json_is_422_json(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/v1/login", content=b'{"pin": "12',
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"].startswith("the request is not valid")
    assert body["errors"][0]["type"] == "json_invalid"


async def test_validation_errors_never_echo_the_input(client: httpx.AsyncClient) -> None:
    secret = "9" * 70  # too long for a PIN
    answer = await client.post("/api/v1/login", json={"pin": secret})
    assert answer.status_code == 422
    assert secret not in answer.text
    assert answer.json()["errors"][0]["loc"] == ["body", "pin"]


async def test_unknown_path_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = await client.get("/api/v1/estop")
    assert wrong.status_code == 405 and "detail" in wrong.json()


async def test_a_route_that_raises_is_500_json_without_a_traceback(
        client: httpx.AsyncClient, link: FakeLink) -> None:
    link.status_error = RuntimeError("secret internals /srv/cryoctl/panel.py line 12")
    answer = await client.get("/api/v1/status")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    detail = answer.json()["detail"]
    assert detail.startswith("internal error")
    assert "Traceback" not in answer.text and "secret internals" not in answer.text
    assert "RuntimeError" not in answer.text


async def test_unreachable_control_is_503_json(client: httpx.AsyncClient,
                                               link: FakeLink) -> None:
    headers = await login(client, STAFF_PIN)
    link.down = True
    answer = await client.post("/api/v1/session/stop", headers=headers)
    assert answer.status_code == 503
    assert answer.json() == {"detail": "the control process is not reachable"}
