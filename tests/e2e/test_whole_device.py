"""The whole device, as `cryoctl run --simulate` brings it up: real processes, real HTTP.

A nurse's session through the API: log in, start with the checklist, press the
trigger at the simulated unit, watch the countdown, stop; an e-stop with no token;
a technician's reset; SIGTERM stops all three programs and leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cryoctl.profile import shipped_profiles

pytestmark = pytest.mark.timeout(120)

UNITS = [("n2", "n2-face-cryomassage", "M"), ("cj-air", "air-face-tone", "F20")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Device:
    proc: subprocess.Popen[str]
    api: httpx.Client
    control: httpx.Client
    pins: dict[str, str]
    out: list[str]
    data_dir: Path
    kind: str


def wait_for(what: str, check: Any, *, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(params=UNITS, ids=[u[0] for u in UNITS])
def device(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Device]:
    kind = request.param[0]
    panel, control = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "run", "--simulate", kind, "--data-dir",
         str(tmp_path), "--panel-port", str(panel), "--control-port", str(control)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    out: list[str] = []
    pins: dict[str, str] = {}
    drain: threading.Thread | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("cryoctl: ") and " PIN " in line:
                role, pin = line.removeprefix("cryoctl: ").split(" PIN ")
                pins[role] = pin.strip()
            if line.startswith("cryoctl: the panel server's API"):
                break
        assert set(pins) == {"staff", "technician"}, "".join(out)
        # what to open, as the README says: the panel's own address
        assert f"cryoctl: the panel: open http://127.0.0.1:{panel}/ in a browser" in "".join(out)
        # keep reading: a pipe nobody reads would stall the daemon's log writes
        drain = threading.Thread(target=lambda: out.extend(proc.stdout or ()), daemon=True)
        drain.start()
        api = httpx.Client(base_url=f"http://127.0.0.1:{panel}", timeout=5)
        ctl = httpx.Client(base_url=f"http://127.0.0.1:{control}", timeout=5)
        wait_for("the panel server", lambda: _up(api))
        yield Device(proc, api, ctl, pins, out, tmp_path, kind)
        api.close()
        ctl.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if drain is not None:
            drain.join(timeout=10)  # ends at the pipe's end, now the daemon is gone
        if proc.stdout is not None:
            proc.stdout.close()


def _up(api: httpx.Client) -> bool:
    try:
        return api.get("/api/v1/status").json().get("link") == "connected"
    except httpx.HTTPError:
        return False


def snapshot(api: httpx.Client) -> dict[str, Any]:
    answer = api.get("/api/v1/status")
    assert answer.status_code == 200
    snap: dict[str, Any] = answer.json()["snapshot"]
    return snap


def login(api: httpx.Client, pin: str) -> dict[str, str]:
    answer = api.post("/api/v1/login", json={"pin": pin})
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


def test_a_whole_session_estop_and_reset_then_a_clean_stop(device: Device) -> None:
    profile_name, nozzle = next((p, n) for k, p, n in UNITS if k == device.kind)
    loaded = next(p for p in shipped_profiles() if p.name == profile_name)
    api, ctl = device.api, device.control
    assert ctl.post("/nozzle", json={"code": nozzle}).status_code == 200
    staff = login(api, device.pins["staff"])
    body = {"profile": profile_name, "patient_ref": "P-0042", "cold_test_done": True,
            "checklist": dict.fromkeys(loaded.profile.session.checklist, True)}
    answer = api.post("/api/v1/session", json=body, headers=staff)
    assert answer.status_code == 200, answer.text
    wait_for("armed", lambda: snapshot(api)["phase"] == "treating_armed")
    # the cold-air unit's cooler takes its time to reach the set-point (tau 12 s)
    wait_for("the unit ready", lambda: snapshot(api)["unit"]["cooler_ready"] is not False,
             timeout_s=60)
    assert ctl.post("/trigger", json={"pressed": True}).status_code == 200
    try:
        first = wait_for("a spray", lambda: (s := snapshot(api))["phase"] == "treating_spraying"
                         and s)
    except AssertionError:
        raise AssertionError(f"no spray: {snapshot(api)['refusals']}") from None
    time.sleep(0.5)
    later = snapshot(api)
    assert later["phase"] == "treating_spraying"
    assert later["session"]["spray_left_s"] < first["session"]["spray_left_s"], "no countdown"
    assert api.post("/api/v1/session/stop", headers=staff).status_code == 200
    wait_for("the session's end", lambda: snapshot(api)["phase"] == "completed")
    # e-stop needs no token, in any state
    answer = api.post("/api/v1/estop")
    assert answer.status_code == 200 and answer.json()["acknowledged"] is True
    assert snapshot(api)["phase"] == "estop"
    assert ctl.post("/trigger", json={"pressed": False}).status_code == 200
    assert api.post("/api/v1/estop/reset", headers=staff).status_code == 403
    tech = login(api, device.pins["technician"])
    assert api.post("/api/v1/estop/reset", headers=tech).status_code == 200
    wait_for("idle after the reset", lambda: snapshot(api)["phase"] == "idle")
    # stop the daemon: all three programs go, in time
    started = time.monotonic()
    device.proc.send_signal(signal.SIGTERM)
    assert device.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5.0
    assert not (device.data_dir / "control.sock").exists()
    leftover = subprocess.run(["pgrep", "-f", str(device.data_dir)], capture_output=True,
                              text=True, check=False)
    assert leftover.stdout.strip() == "", "a child outlived the daemon"
    with pytest.raises(httpx.HTTPError):
        api.get("/api/v1/status")


def test_the_unit_refuses_a_second_device_on_the_same_state(device: Device) -> None:
    """A second `run --simulate` on the same data directory stops before touching a unit."""
    other = subprocess.run(
        [sys.executable, "-m", "cryoctl", "run", "--simulate", "n2", "--data-dir",
         str(device.data_dir), "--panel-port", str(free_port()), "--control-port",
         str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ},
    )
    assert other.returncode == 2, other.stdout + other.stderr
    assert "control.sock" in other.stderr
