"""The audit rows of an e-stop reset and a fault reset name who asked, when the panel asked.

Simulator, ``cryoctl run``, ``cryoctl panel`` over HTTP: a technician signs in,
the e-stop is pressed on the panel and reset there; a unit fault is raised through
the simulator's control channel, cleared there and reset on the panel. Each reset's
audit row carries the technician's role and token id; a reset over the socket with
nobody named stays anonymous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import Children, cryoctl, terminate, wait_for
from records_rig import UNIT_FAULT, Device
from test_records_api_e2e import STAFF_PIN, TECH_PIN, _connected, _free_port, _phase

from cryoctl.client import ControlClient
from cryoctl.panel.tokens import token_id
from cryoctl.pins import hash_pin

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[tuple[Device, httpx.Client]]:
    port = _free_port()
    with Children(tmp_path) as children:
        device = Device(children, tmp_path, "n2")
        device.config.write_text(
            device.config.read_text() + f'\n[api]\nbind = "127.0.0.1"\nport = {port}\n\n'
            f'[auth]\nstaff_pin_hash = "{hash_pin(STAFF_PIN)}"\n'
            f'technician_pin_hash = "{hash_pin(TECH_PIN)}"\n')
        device.start_daemon()
        children.start("panel", "panel", "--config", str(device.config))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            wait_for(lambda: _connected(api), 20, "the panel reaches the control process")
            yield device, api
        terminate(device.daemon)


def _resets(device: Device) -> list[tuple[str, str | None, str | None]]:
    return [(r["action"], r["role"], r["token_id"]) for r in device.rows(
        "SELECT action, role, token_id FROM audit WHERE action IN ('estop_reset', "
        "'fault_reset') ORDER BY id")]


def _reset_over_the_socket(device: Device) -> None:
    async def run() -> None:
        async with ControlClient(device.sock) as c:
            assert await c.estop("socket test")
            reply = await c.command("reset_estop")
            assert reply.ok, reply.reason

    asyncio.run(run())


def test_the_panels_resets_name_the_technician_in_the_audit_trail(
        panel: tuple[Device, httpx.Client]) -> None:
    device, api = panel
    answer = api.post("/api/v1/login", json={"pin": TECH_PIN})
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    tech = {"authorization": f"Bearer {token}"}
    who = ("technician", token_id(token))

    assert api.post("/api/v1/estop").json()["acknowledged"] is True
    wait_for(lambda: _phase(api) == "estop", 10, "e-stopped")
    reset = api.post("/api/v1/estop/reset", headers=tech)
    assert reset.status_code == 200, reset.text
    wait_for(lambda: len(_resets(device)) == 1, 10, "the e-stop reset's audit row")
    assert _resets(device) == [("estop_reset", *who)]

    wait_for(lambda: _phase(api) in ("idle", "ready"), 10, "idle after the reset")
    fault = UNIT_FAULT[device.kind]
    device.sim.post("fault", {"name": fault, "active": True})
    wait_for(lambda: _phase(api) == "fault", 10, "the unit's fault")
    device.sim.post("fault", {"name": fault, "active": False})

    def reset_faults() -> bool:
        return api.post("/api/v1/faults/reset", headers=tech).status_code == 200

    wait_for(reset_faults, 10, "the fault reset accepted", every_s=0.2)
    wait_for(lambda: len(_resets(device)) == 2, 10, "the fault reset's audit row")
    assert _resets(device)[1] == ("fault_reset", *who)

    # A staff token may not reset; a reset over the socket names nobody.
    staff = api.post("/api/v1/login", json={"pin": STAFF_PIN}).json()["token"]
    assert api.post("/api/v1/faults/reset",
                    headers={"authorization": f"Bearer {staff}"}).status_code == 403
    wait_for(lambda: _phase(api) in ("idle", "ready"), 10, "idle after the fault reset")
    _reset_over_the_socket(device)
    wait_for(lambda: len(_resets(device)) == 3, 10, "the socket reset's audit row")
    assert _resets(device)[2] == ("estop_reset", None, None)
    verified = cryoctl("audit", "verify", "--db", str(device.db))
    assert verified.returncode == 0, verified.stdout + verified.stderr
