"""The panel server as ``cryoctl panel`` builds it, on a real TCP port, with a fake link.

``cryoctl panel`` itself needs the control socket client (cryoctl.client), so the
server is built by the same function the command uses and run in a thread; the
command is checked to fail in one line while the client is missing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import STAFF_PIN, make_config
from panel_fakes import FakeLink, free_port, make_snapshot, serving
from websockets.sync.client import connect

from cryoctl.config import Config
from cryoctl.panel.app import make_server


class ThreadedLink(FakeLink):
    """A FakeLink that can be pushed to from the test's thread."""

    loop: asyncio.AbstractEventLoop | None = None

    async def subscribe(self) -> Any:
        self.loop = asyncio.get_running_loop()
        async for message in super().subscribe():
            yield message

    def push_from_thread(self, message: dict[str, Any]) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.push, message)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ThreadedLink, Config]]:
    port = free_port()
    config = make_config(tmp_path, api={"bind": "127.0.0.1", "port": port})
    link = ThreadedLink()
    server = make_server(config, link)
    with serving(server):
        yield f"127.0.0.1:{port}", link, config


def test_login_status_estop_over_tcp(served: tuple[str, ThreadedLink, Config]) -> None:
    address, link, _ = served
    with httpx.Client(base_url=f"http://{address}", timeout=5) as client:
        answer = client.post("/api/v1/estop")
        assert (answer.status_code, answer.json()) == (200, {"acknowledged": True})
        token = client.post("/api/v1/login", json={"pin": STAFF_PIN}).json()["token"]
        status = client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
        assert status.json() == {"link": "connected", "snapshot": link.snapshot}
        pause = client.post("/api/v1/session/pause", headers={"Authorization": f"Bearer {token}"})
        assert pause.json() == {"ok": True}
        refused = client.get("/api/v1/status", headers={"Host": "evil.example"})
        assert refused.status_code == 403
        assert "server" not in refused.headers
    assert link.names() == ["estop", "status", "command:pause"]


def test_event_stream_over_tcp(served: tuple[str, ThreadedLink, Config]) -> None:
    address, link, _ = served
    with connect(f"ws://{address}/api/v1/events", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["snapshot"] == link.snapshot
        link.push_from_thread({"v": 1, "type": "snapshot", "snapshot": make_snapshot(9)})
        assert json.loads(ws.recv(timeout=5))["link"] == "connected"
        assert json.loads(ws.recv(timeout=5))["snapshot"]["seq"] == 9


def test_event_stream_refuses_another_origin_over_tcp(
        served: tuple[str, ThreadedLink, Config]) -> None:
    from websockets.exceptions import InvalidStatus

    address, _, _ = served
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{address}/api/v1/events", origin="http://evil.example", open_timeout=5)
    assert refused.value.response.status_code == 403


def test_panel_command_reports_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "cryoctl.toml"
    config.write_text('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\n[api]\nport = 0\n')
    out = subprocess.run([sys.executable, "-m", "cryoctl", "panel", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == f"{config}:5: api.port: 0 must be between 1 and 65535"
