"""``cryoctl sim n2`` as a process: READY line, a host and curl-like control, clean exit."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sim_n2_bench import LineClient

from simulator.n2.cli import n2

_READY_RE = re.compile(r"READY n2 url=(\S+)(?: control=(\S+))?")


@pytest.fixture
def run_sim() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _start(procs: list[subprocess.Popen[str]], *args: str) -> re.Match[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryoctl", "sim", "n2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20.0)
    assert ready, "no READY line within 20 s"
    line = proc.stdout.readline()
    match = _READY_RE.fullmatch(line.strip())
    assert match is not None, line
    return match


def _stop(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err


def test_tcp_with_control_and_a_clean_sigterm(run_sim) -> None:
    ready = _start(
        run_sim,
        "--tcp",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--log-level",
        "debug",
        "--serial-number",
        "CLI7",
    )
    url, control = ready.groups()
    assert url.startswith("n2+socket://127.0.0.1:")
    with LineClient(url.replace("n2+socket://", "socket://")) as c:
        assert c.ask("ID") == "OK,ID,N2-CRYO,CLI7,C.1.0"
        assert c.ask("WDT,5000") == "OK,WDT,5000"
        c.ask("RESET")
        c.events.clear()  # a power-on watchdog trip, if start-up was slow
        r = httpx.post(f"{control}/estop", json={"pressed": True})
        assert r.status_code == 200
        assert c.event() == "EV,ESTOP,1"
        assert httpx.get(f"{control}/state").json()["estop_latched"] is True
    err = _stop(run_sim[0], signal.SIGTERM)
    assert "n2 rx" in err and "n2 tx" in err  # every frame at debug level


def test_pty_and_a_clean_sigint(run_sim, tmp_path: Path) -> None:
    link = tmp_path / "n2link"
    ready = _start(run_sim, "--pty", str(link), "--speed", "5", "--wire-baud", "115200")
    assert ready.group(1) == f"n2+serial://{link}?baud=115200"
    assert os.path.realpath(link).startswith("/dev/pts/")
    with LineClient(str(link)) as c:
        assert c.ask("HB,5") == "OK,HB,5"
    _stop(run_sim[0], signal.SIGINT)
    assert not link.exists() and not link.is_symlink()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--pty", "x", "--tcp", "127.0.0.1:1"],
        ["--tcp", "nohost"],
        ["--tcp", "127.0.0.1:99999"],
        ["--tcp", "127.0.0.1:1", "--nozzle", "Q"],
        ["--tcp", "127.0.0.1:1", "--speed", "0"],
    ],
)
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(n2, args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.output
