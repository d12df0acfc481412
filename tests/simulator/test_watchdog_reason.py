"""A unit left on its own says why its watchdog tripped: in its log and in ``GET /state``."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
import time

import httpx
import pytest

_READY_RE = re.compile(r"READY (\S+) url=(\S+) control=(\S+)")


def _start(kind: str, wire: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "sim", kind, wire, "127.0.0.1:0",
         "--control", "127.0.0.1:0", "--speed", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20.0)
    if not ready:
        proc.kill()
        proc.communicate(timeout=10)
        pytest.fail("no READY line within 20 s")
    match = _READY_RE.fullmatch(proc.stdout.readline().strip())
    assert match is not None
    return proc, match.group(3)


def _state_when_tripped(control: str, faults_key: str) -> dict[str, object]:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        state: dict[str, object] = httpx.get(f"{control}/state", timeout=5.0).json()
        names = state[faults_key]
        assert isinstance(names, list)
        if "WATCHDOG" in names:
            return state
        time.sleep(0.05)
    pytest.fail("WATCHDOG never tripped with no host feeding it")


@pytest.mark.parametrize(
    ("kind", "wire", "faults_key", "reset"),
    [("n2", "--tcp", "fault_names", "RESET"), ("cj-air", "--tcp", "faults", "FAULT_RESET")],
)
def test_a_unit_alone_says_no_host_fed_its_watchdog(
    kind: str, wire: str, faults_key: str, reset: str
) -> None:
    proc, control = _start(kind, wire)
    try:
        before = httpx.get(f"{control}/state", timeout=5.0).json()
        if "WATCHDOG" not in before[faults_key]:
            assert before["watchdog_reason"] is None
        state = _state_when_tripped(control, faults_key)
        reason = state["watchdog_reason"]
        assert isinstance(reason, str)
        assert "no host" in reason
        assert "since power-on" in reason
        assert reset in reason
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    tripped = [line for line in err.splitlines() if "WATCHDOG tripped" in line]
    assert len(tripped) == 1, err
    assert "WARNING" in tripped[0]
    assert "no host has sent" in tripped[0]


def test_a_host_that_went_quiet_is_told_apart_from_no_host() -> None:
    from simulator.watchdog import watchdog_reason

    quiet = watchdog_reason(window_ms=1000, fed_at_s=12.5, power_on_s=0.0,
                            feed="valid command", reset="RESET")
    assert "last valid command was at t=12.500 s" in quiet
    assert "no host" not in quiet
