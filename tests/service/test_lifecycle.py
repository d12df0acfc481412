"""The units' commands run the way systemd runs them, with systemd itself left out.

``cryoctl.service``'s ExecStart= (its arguments, its Environment=, a
``$NOTIFY_SOCKET`` and the ``$WATCHDOG_USEC`` its WatchdogSec= gives) against a
simulated N2 unit; ``cryoctl-panel.service``'s ExecStart= beside it; then what the
watchdog does (SIGABRT) and what systemd runs next: ExecStopPost=, with the
``$SERVICE_RESULT`` / ``$EXIT_CODE`` / ``$EXIT_STATUS`` it sets. Under PR_SET_MDWE
where the kernel has it, as MemoryDenyWriteExecute=yes would hold them.
"""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from notify_listener import NotifyListener
from service_rig import (
    SYSTEMD,
    child_env,
    free_tcp_port,
    json_lines,
    mdwe_available,
    python_argv,
    running_sim,
    unit_command,
    unit_environment,
    wait_for,
    watchdog_usec,
    write_config,
)

pytestmark = pytest.mark.timeout(60)

CONTROL = SYSTEMD / "cryoctl.service"
PANEL = SYSTEMD / "cryoctl-panel.service"


def _start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _metrics(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_start_watchdog_kill_and_safe_stop(tmp_path: Path) -> None:
    mdwe = mdwe_available()
    port = free_tcp_port()
    with running_sim("n2", tmp_path, ["--nozzle", "M"], mdwe=mdwe) as sim, \
            NotifyListener(tmp_path / "notify.sock") as notify:
        config = write_config(
            tmp_path / "cryoctl.toml", "n2", sim.url,
            f'[control]\nsocket_path = "{tmp_path / "control.sock"}"\n'
            f'[data]\ndir = "{tmp_path / "data"}"\n'
            f'[api]\nport = {port}\n')
        (tmp_path / "data").mkdir()
        env = {**child_env(), **unit_environment(CONTROL),
               "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(watchdog_usec(CONTROL))}
        control = _start(python_argv("-m", "cryoctl", *unit_command(CONTROL, "ExecStart", config),
                                     mdwe=mdwe), tmp_path / "run.log", env)
        panel: subprocess.Popen[bytes] | None = None
        try:
            wait_for(lambda: any(d.startswith("READY=1") for d in notify.said())
                     or control.poll() is not None, 20, "READY=1")
            assert control.poll() is None, (tmp_path / "run.log").read_text()
            ready = next(d for d in notify.said() if d.startswith("READY=1"))
            assert "STATUS=" in ready
            # WATCHDOG=1 at half of the 2 s: a few within two seconds
            wait_for(lambda: notify.said().count("WATCHDOG=1") >= 2, 4, "WATCHDOG=1 twice")

            panel_env = {**child_env(), **unit_environment(PANEL)}
            panel = _start(python_argv("-m", "cryoctl", *unit_command(PANEL, "ExecStart", config),
                                       mdwe=mdwe), tmp_path / "panel.log", panel_env)
            wait_for(lambda: _metrics(port) or panel.poll() is not None, 20, "the panel serves")
            assert panel.poll() is None, (tmp_path / "panel.log").read_text()
            # it reached the control process over the control socket
            wait_for(lambda: "control_link_up" in (tmp_path / "panel.log").read_text(), 10,
                     "the panel's control link")

            # The watchdog fires: SIGABRT, and the faulthandler's tracebacks in the log.
            control.send_signal(signal.SIGABRT)
            assert control.wait(timeout=10) == -signal.SIGABRT
            said = (tmp_path / "run.log").read_text(errors="replace")
            assert "Fatal Python error: Aborted" in said
            assert "Current thread" in said or "Thread 0x" in said

            stop_env = {**env, "SERVICE_RESULT": "watchdog", "EXIT_CODE": "dumped",
                        "EXIT_STATUS": "ABRT"}
            stop_env.pop("NOTIFY_SOCKET")
            stop_env.pop("WATCHDOG_USEC")
            done = subprocess.run(
                python_argv("-m", "cryoctl", *unit_command(CONTROL, "ExecStopPost", config),
                            mdwe=mdwe),
                capture_output=True, text=True, timeout=30, env=stop_env,
                stdin=subprocess.DEVNULL)
        finally:
            _stop(control)
            if panel is not None:
                _stop(panel)
        assert done.returncode == 0, done.stderr
        events = [e for e in json_lines(done.stdout) if e.get("logger") == "cryoctl.safe_stop"]
        assert [e["event"] for e in events] == ["safe-stop", "valve closed"], done.stdout
        assert (events[0]["service_result"], events[0]["exit_code"],
                events[0]["exit_status"]) == ("watchdog", "dumped", "ABRT")
        state = sim.state()
        assert state["valve_open"] is False
        # safe-stop's CLOSE reached the unit after the control process was gone
        lines = sim.log_lines()
        clients = [i for i, line in enumerate(lines) if "n2 tcp: client (" in line]
        assert len(clients) >= 2
        assert any("$CLOSE" in line for line in lines[clients[-1]:] if " n2 rx " in line)


def test_the_unit_environment_is_what_the_commands_expect() -> None:
    env = unit_environment(CONTROL)
    assert env == {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONFAULTHANDLER": "1"}
    assert unit_environment(PANEL) == env
    assert watchdog_usec(CONTROL) == 2_000_000
    assert unit_command(CONTROL, "ExecStart", Path("/x.toml")) == ["run", "--config", "/x.toml"]
    assert unit_command(CONTROL, "ExecStopPost", Path("/x.toml")) == [
        "safe-stop", "--config", "/x.toml"]
    assert unit_command(PANEL, "ExecStart", Path("/x.toml")) == ["panel", "--config", "/x.toml"]
