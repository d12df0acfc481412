"""``cryoctl doctor`` as a person runs it: a real process, real files, sockets and ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def doctor(*args: str, config: Path | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CRYOCTL_CONFIG"}
    extra = ["--config", str(config)] if config is not None else []
    done = subprocess.run([sys.executable, "-m", "cryoctl", "doctor", *extra, *args],
                          capture_output=True, text=True, timeout=60, env=env)
    return done.returncode, done.stdout, done.stderr


def checks(config: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    code, out, err = doctor("--json", config=config)
    assert err == ""
    document = json.loads(out)
    assert document["ok"] is (code == 0)
    return code, {c["check"]: c for c in document["checks"]}


def write_config(tmp_path: Path, *, url: str, data_dir: Path, sock: Path, port: int) -> Path:
    path = tmp_path / "cryoctl.toml"
    path.write_text(
        f'[unit]\nkind = "n2"\nurl = "{url}"\n'
        f'[control]\nsocket_path = "{sock}"\n'
        f'[api]\nport = {port}\n'
        f'[data]\ndir = "{data_dir}"\n'
    )
    return path


def test_nothing_running_and_no_data_dir_is_one_line_each_with_its_fix(tmp_path: Path) -> None:
    missing, sock, port, wire = tmp_path / "no-data", tmp_path / "no.sock", free_port(), free_port()
    config = write_config(tmp_path, url=f"n2+socket://127.0.0.1:{wire}", data_dir=missing,
                          sock=sock, port=port)
    code, out, err = doctor(config=config)
    assert code == 1 and err == ""
    lines = out.splitlines()
    by_name = {line.split()[1]: line for line in lines[:-1]}
    assert list(by_name) == ["python", "python3-venv", "socat", "mbpoll", "shellcheck",
                             "curl", "chromium", "config", "unit", "data", "socket", "panel"]
    assert by_name["python"].startswith("ok ")
    assert by_name["config"].startswith("ok ") and str(config) in by_name["config"]
    assert by_name["unit"].startswith("FIX ") and f"127.0.0.1:{wire}" in by_name["unit"]
    assert "-> start the unit or its simulator" in by_name["unit"]
    assert by_name["data"].startswith("FIX ") and f"{missing}: no such directory" in out
    assert f"sudo install -d -o cryoctl -g cryoctl -m 0750 {missing}" in by_name["data"]
    assert by_name["socket"].startswith("FIX ") and f"{sock}: no such socket" in out
    assert "sudo systemctl start cryoctl " in by_name["socket"]
    assert by_name["panel"].startswith("FIX ") and f"127.0.0.1:{port}/api/v1/status" in out
    assert "sudo systemctl start cryoctl-panel" in by_name["panel"]
    assert lines[-1] == f"{sum(line.startswith('FIX ') for line in lines)} to fix"


def test_json_says_the_same(tmp_path: Path) -> None:
    config = write_config(tmp_path, url="n2+serial:///dev/no-such-tty", data_dir=tmp_path,
                          sock=tmp_path / "c.sock", port=free_port())
    code, found = checks(config)
    assert code == 1
    assert found["data"]["status"] == "ok" and found["data"]["fix"] is None
    serial = found["serial"]
    assert serial["status"] == "fix" and serial["detail"] == "/dev/no-such-tty: no such device"
    assert "99-cryo-unit.rules" in serial["fix"]


def test_a_missing_config_names_the_file_and_the_example(tmp_path: Path) -> None:
    absent = tmp_path / "etc" / "cryoctl.toml"
    code, found = checks(absent)
    assert code == 1
    assert found["config"]["detail"] == f"{absent}: no such file"
    assert "systemd/cryoctl.example.toml" in found["config"]["fix"]
    assert found["unit"]["status"] == "note"
    assert found["data"]["detail"].endswith("(the default)")


def test_a_bad_config_names_the_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/x"\nperiod_ms = 5\n')
    code, found = checks(bad)
    assert code == 1
    assert found["config"]["detail"].startswith(f"{bad}:4: unit.period_ms:")
    assert f"cryoctl run --config {bad}" in found["config"]["fix"]


def test_the_serial_device_must_be_a_character_device(tmp_path: Path) -> None:
    plain = tmp_path / "ttyFAKE"
    plain.write_text("")
    config = write_config(tmp_path, url=f"n2+serial://{plain}", data_dir=tmp_path,
                          sock=tmp_path / "c.sock", port=free_port())
    _, found = checks(config)
    assert found["serial"]["detail"] == f"{plain} is not a character device"


def test_a_pty_is_a_serial_device_it_accepts(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    try:
        config = write_config(tmp_path, url=f"n2+serial://{os.ttyname(follower)}",
                              data_dir=tmp_path, sock=tmp_path / "c.sock", port=free_port())
        _, found = checks(config)
    finally:
        os.close(leader)
        os.close(follower)
    assert found["serial"]["status"] == "ok", found["serial"]


def test_a_file_in_the_sockets_place_is_not_a_socket(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    sock.write_text("")
    config = write_config(tmp_path, url="n2+serial:///dev/x", data_dir=tmp_path, sock=sock,
                          port=free_port())
    _, found = checks(config)
    assert found["socket"]["detail"] == f"{sock} is not a socket"


def test_the_whole_simulated_device_passes_every_device_check(tmp_path: Path) -> None:
    panel, control = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "run", "--simulate", "n2", "--data-dir", str(tmp_path),
         "--panel-port", str(panel), "--control-port", str(control)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("cryoctl: the panel server's API"):
                break
        config = tmp_path / "cryoctl.toml"
        deadline = time.monotonic() + 30
        while True:
            code, found = checks(config)
            device = {name: found[name]["status"] for name in
                      ("python", "config", "unit", "data", "socket", "panel")}
            if set(device.values()) == {"ok"} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert set(device.values()) == {"ok"}, found
        assert code == (0 if all(c["status"] != "fix" for c in found.values()) else 1)
        assert "the control process holds the link" in found["unit"]["detail"]
        assert "N2-CRYO" in found["unit"]["detail"]
        assert "phase idle, healthy" in found["socket"]["detail"]
        # it opened no second link to the unit beside the control process's
        sim_log = (tmp_path / "sim.log").read_text()
        assert "refused" not in sim_log and sim_log.count("n2 tcp: client (") == 1, sim_log
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
