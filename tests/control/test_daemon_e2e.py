"""The whole control process, for real: ``cryoctl sim``, ``cryoctl run``, the CLI, SIGTERM.

Each test starts its own simulated unit (port 0, addresses read from its READY
line), writes a config into its folder, runs ``python -m cryoctl run --config``
and talks to it over the control socket: through ``cryoctl status`` / ``cryoctl
estop`` in child processes, and through :class:`ControlClient` from the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from notify_listener import NotifyListener
from procs import (
    Children,
    Simulator,
    cryoctl,
    socket_answers,
    terminate,
    wait_for,
    write_config,
)

from cryoctl.client import ControlClient
from cryoctl.profile import shipped_profiles

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


async def _session(path: Path, profile: str) -> dict[str, Any]:
    async with ControlClient(path) as c:
        loaded = await c.load_profile(profile)
        assert loaded.ok, loaded.reason
        limits = next(p for p in shipped_profiles() if p.name == profile).profile.session
        started = await c.start_session(patient_ref="P-E2E", checklist=dict.fromkeys(
            limits.checklist, True), cold_test_done=True)
        assert started.ok, started.reason
        for _ in range(200):
            snap = await c.status()
            if snap["phase"] == "treating_armed":
                return snap
            await asyncio.sleep(0.01)
    raise AssertionError(f"no session: {snap['phase']}")


def _status_json(sock: Path) -> dict[str, Any]:
    out = cryoctl("status", "--json", "--socket", str(sock))
    assert out.returncode == 0, out.stderr
    value: dict[str, Any] = json.loads(out.stdout)
    return value


def _bring_up(children: Children, folder: Path, sim: Simulator, kind: str,
              **env: str) -> tuple[Any, Path, float]:
    config = write_config(folder, kind, sim.url)
    sock = folder / "control.sock"
    began = time.monotonic()
    daemon = children.start("run", "run", "--config", str(config), **env)
    wait_for(lambda: socket_answers(sock) or daemon.poll() is not None, 15, "control socket")
    assert daemon.poll() is None, children.log("run")
    return daemon, sock, time.monotonic() - began


def _stop_and_check(children: Children, daemon: Any, sock: Path, sim: Simulator) -> None:
    code, took_s = terminate(daemon)
    assert code == 0, children.log("run")
    assert took_s < 5
    assert not sock.exists()
    state = sim.state()
    assert state["valve_open"] is False
    log = children.log("run")
    steps = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    order = ["control socket closed", "control loop stopped, valve closed", "unit link released",
             "control socket removed"]
    assert [s for s in steps if s in order] == order


def test_n2_from_start_to_sigterm(tmp_path: Path) -> None:
    with Children(tmp_path) as children, NotifyListener(tmp_path / "notify.sock") as notify:
        sim = children.simulator("n2", "--nozzle", "M")
        daemon, sock, ready_s = _bring_up(
            children, tmp_path, sim, "n2",
            NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="400000")
        assert ready_s < 10
        assert stat_mode(sock) == 0o660

        snap = _status_json(sock)
        assert snap["phase"] in ("idle", "ready")
        assert snap["identity"]["url"] == sim.url
        screen = cryoctl("status", "--socket", str(sock))
        assert screen.returncode == 0 and screen.stdout.startswith("state     idle")

        asyncio.run(_session(sock, "n2-face-cryomassage"))
        sim.post("trigger", {"pressed": True})
        wait_for(lambda: sim.state()["valve_open"], 3, "the valve opens on the trigger")

        estop = cryoctl("estop", "--socket", str(sock))
        assert estop.returncode == 0, estop.stderr
        assert "acknowledged the close" in estop.stdout
        assert sim.state()["valve_open"] is False
        assert _status_json(sock)["phase"] == "estop"
        sim.post("trigger", {"pressed": False})

        said = notify.take()
        assert any(d.startswith("READY=1") and "STATUS=idle: n2 N2-CRYO" in d for d in said)
        assert any("STATUS=estop" in d for d in said)
        assert said.count("WATCHDOG=1") >= 2

        # The unit stops answering: no more watchdog pings, so systemd would step in.
        sim.post("fault", {"name": "drop_all", "active": True})
        time.sleep(0.6)
        notify.take()
        time.sleep(0.6)
        assert "WATCHDOG=1" not in notify.take()
        sim.post("fault", {"name": "drop_all", "active": False})

        _stop_and_check(children, daemon, sock, sim)
        assert any(d.startswith("STOPPING=1") for d in notify.take())


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_cj_air_from_start_to_sigterm(tmp_path: Path) -> None:
    with Children(tmp_path) as children:
        sim = children.simulator("cj-air")
        daemon, sock, _ = _bring_up(children, tmp_path, sim, "cj-air")
        assert sim.url.startswith("modbus+tcp://127.0.0.1:") and "device_id=1" in sim.url
        assert _status_json(sock)["phase"] in ("idle", "ready")
        snap = asyncio.run(_session(sock, "air-laser-adjunct"))
        assert snap["profile"]["name"] == "air-laser-adjunct"
        # A second control process on the same socket stops before it touches the unit.
        second = cryoctl("run", "--config", str(tmp_path / "cryoctl.toml"))
        assert second.returncode == 2
        assert "another control process is listening" in second.stderr
        assert str(sock) in second.stderr
        assert _status_json(sock)["phase"] == "treating_armed"
        estop = cryoctl("estop", "--socket", str(sock))
        assert estop.returncode == 0, estop.stderr
        assert _status_json(sock)["phase"] == "estop"
        _stop_and_check(children, daemon, sock, sim)


def test_a_bad_config_is_exit_2_and_one_line_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, "n2", "n2+socket://127.0.0.1:9",
                          extra="").read_text().replace('kind = "n2"\n',
                                                        'kind = "n2"\nperiod_ms = 5\n')
    (tmp_path / "bad.toml").write_text(config)
    out = cryoctl("run", "--config", str(tmp_path / "bad.toml"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unit.period_ms" in lines[0] and "bad.toml" in lines[0]
    assert out.stdout == ""


def test_an_unreachable_unit_is_exit_2_naming_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"n2+socket://127.0.0.1:{port}"
    config = write_config(tmp_path, "n2", url)
    out = cryoctl("run", "--config", str(config))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0]
    assert not (tmp_path / "control.sock").exists()


def test_cli_without_a_control_process_is_exit_2(tmp_path: Path) -> None:
    for command in ("status", "estop"):
        out = cryoctl(command, "--socket", str(tmp_path / "none.sock"))
        assert out.returncode == 2
        assert str(tmp_path / "none.sock") in out.stderr and "no control process" in out.stderr
