"""``cryoctl sim cj-air`` as a developer runs it: driven by mbpoll and HTTP, stopped by a signal."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymodbus.client import ModbusTcpClient


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "sim", "cj-air", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=20):
            process.kill()
            raise AssertionError("no READY line within 20 s")
    line = process.stdout.readline()
    assert line.startswith("READY cj-air "), line
    return process, dict(re.findall(r"(\w+)=(\S+)", line))


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_tcp_unit_with_control_channel_runs_until_a_signal(
    sig: signal.Signals, stopper: list[subprocess.Popen[str]]
) -> None:
    process, ready = _start("--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0")
    stopper.append(process)
    port = int(re.search(r":(\d+)\?", ready["url"]).group(1))  # type: ignore[union-attr]
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert client.connect()
    try:
        answer = httpx.post(ready["control"] + "/estop", json={"pressed": True}, timeout=5)
        assert answer.status_code == 200 and answer.json()["estop_latched"]
        assert client.read_discrete_inputs(0, count=1, device_id=1).bits[0]
        refused = httpx.post(ready["control"] + "/level", json={"pct": 40}, timeout=5)
        assert refused.status_code == 400 and refused.json()["field"] == "level"
        state = httpx.get(ready["control"] + "/state", timeout=5).json()
        assert state["counters"]["frames_in"] >= 1
    finally:
        client.close()
    process.send_signal(sig)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_rtu_unit_links_its_pty_and_removes_the_link(
    tmp_path: Path, stopper: list[subprocess.Popen[str]]
) -> None:
    link = tmp_path / "cjair"
    process, ready = _start("--rtu", str(link), "--device-id", "7", "--log-level", "debug")
    stopper.append(process)
    assert ready["url"] == f"modbus+rtu://{link}?baud=19200&parity=E&device_id=7"
    assert os.path.realpath(link).startswith("/dev/pts/")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert not os.path.lexists(link)


def test_exactly_one_transport() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cryoctl", "sim", "cj-air"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "exactly one of" in result.stderr
