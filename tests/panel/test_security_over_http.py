"""Sign-in security over real HTTP: a real panel server on a TCP port of 127.0.0.1.

The in-process tests (test_roles.py, test_login_throttle.py) check the rules through
ASGI; these check the same through uvicorn and a socket, the way the touch panel
reaches them: a token revoked at logout is refused on every later request (also a
new connection), and repeated wrong PINs end in a logged lock-out with a growing
Retry-After, during which even the right PIN is turned away. The server's clock is
a fake one, moved on by the test, so the back-off takes no real minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from conftest import STAFF_PIN, TECHNICIAN_PIN, WRONG_PIN, make_config
from panel_fakes import FakeClock, FakeLink, free_port, serving

from cryoctl.panel.app import make_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeClock, FakeLink]]:
    port = free_port()
    config = make_config(tmp_path, api={"bind": "127.0.0.1", "port": port})
    clock, link = FakeClock(), FakeLink()
    server = make_server(config, link, clock=clock)
    with serving(server):
        yield f"http://127.0.0.1:{port}", clock, link


def test_a_token_is_revoked_at_logout_for_every_later_request(
        served: tuple[str, FakeClock, FakeLink]) -> None:
    base, _, link = served
    with httpx.Client(base_url=base, timeout=10) as client:
        token = client.post("/api/v1/login", json={"pin": TECHNICIAN_PIN}).json()["token"]
        other = client.post("/api/v1/login", json={"pin": STAFF_PIN}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/session/pause", headers=auth).status_code == 200
        assert client.post("/api/v1/logout", headers=auth).json() == {"revoked": True}
        for path in ("/api/v1/session/pause", "/api/v1/faults/reset", "/api/v1/logout"):
            refused = client.post(path, headers=auth)
            assert refused.status_code == 401, path
            assert refused.json()["detail"], path
        assert client.get("/api/v1/profiles", headers=auth).status_code == 401
    # A new connection does not bring it back; another sign-in is untouched.
    with httpx.Client(base_url=base, timeout=10) as fresh:
        assert fresh.post("/api/v1/session/pause", headers=auth).status_code == 401
        assert fresh.post("/api/v1/session/pause",
                          headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert link.names().count("command:pause") == 2


def test_repeated_wrong_pins_lock_out_and_the_lock_out_is_logged(
        served: tuple[str, FakeClock, FakeLink]) -> None:
    base, clock, _ = served
    delays = []
    with structlog.testing.capture_logs() as logs, \
            httpx.Client(base_url=base, timeout=10) as client:
        for attempt in range(8):
            answer = client.post("/api/v1/login", json={"pin": WRONG_PIN})
            assert answer.status_code in (401, 429), answer.text
            assert answer.json()["detail"]
            delays.append(int(answer.headers["retry-after"]))
            if attempt < 7:  # after the last one, the right PIN is tried at once
                clock.advance(delays[-1])
        right_meanwhile = client.post("/api/v1/login", json={"pin": STAFF_PIN})
        assert right_meanwhile.status_code == 429, right_meanwhile.text
        assert int(right_meanwhile.headers["retry-after"]) > 0
        clock.advance(60)
        assert client.post("/api/v1/login", json={"pin": STAFF_PIN}).status_code == 200
    assert delays == sorted(delays) and delays[0] == 1 and delays[-1] == 60, delays
    lockouts = [e for e in logs if e["event"] == "login_locked_out"]
    assert len(lockouts) == 1, [e["event"] for e in logs]
    assert lockouts[0]["client"] == "127.0.0.1" and lockouts[0]["retry_after_s"] == 60
