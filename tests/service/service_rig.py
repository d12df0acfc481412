"""What the service tests share: the checkout's paths, child processes, simulators.

Every child runs ``[sys.executable, "-m", "cryoctl", ...]`` with this checkout on
``PYTHONPATH``, so it runs the code under test, not an installed copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
UNITS = ("cryoctl.service", "cryoctl-panel.service", "cryoctl-kiosk.service")

#: Exit status of the wrapper below when the kernel has no PR_SET_MDWE (before 6.3).
NO_MDWE = 77
# Sets the kernel's memory-deny-write-execute (prctl PR_SET_MDWE, 65, with
# PR_MDWE_REFUSE_EXEC_GAIN, 1), kept across execve, then becomes the real command:
# the same rule systemd's MemoryDenyWriteExecute=yes enforces with seccomp.
_MDWE_WRAPPER = (
    "import ctypes, os, sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:\n"
    f"    sys.exit({NO_MDWE})\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.pop("NOTIFY_SOCKET", None)
    return env


def python_argv(*args: str, mdwe: bool = False) -> list[str]:
    """``python ARGS...``, under PR_SET_MDWE when ``mdwe``."""
    if mdwe:
        return [sys.executable, "-c", _MDWE_WRAPPER, *args]
    return [sys.executable, *args]


def mdwe_available() -> bool:
    """Whether the kernel refuses a writable+executable mapping under the wrapper."""
    probe = ("import mmap; "
             "mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)")
    done = subprocess.run(python_argv("-c", probe, mdwe=True), capture_output=True,
                          text=True, timeout=30, env=child_env())
    if done.returncode == NO_MDWE:
        return False
    if done.returncode == 1 and "PermissionError" in done.stderr:
        return True
    raise AssertionError(f"unexpected MDWE probe result {done.returncode}: {done.stderr}")


def run_cryoctl(*args: str, mdwe: bool = False, timeout_s: float = 30.0,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(python_argv("-m", "cryoctl", *args, mdwe=mdwe),
                          capture_output=True, text=True, timeout=timeout_s,
                          env=env or child_env(), stdin=subprocess.DEVNULL)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a child's output (each line must be one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, kind: str, url: str, extra: str = "") -> Path:
    path.write_text(f'[unit]\nkind = "{kind}"\nurl = "{url}"\n{extra}')
    return path


@dataclass
class Sim:
    """A running ``cryoctl sim`` child: its unit URL, control channel and debug log."""

    proc: subprocess.Popen[str]
    url: str
    control: str
    log_path: Path

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control}/state", timeout=5) as answer:
            state: dict[str, Any] = json.load(answer)
            return state

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    @property
    def host_port(self) -> tuple[str, int]:
        match = re.match(r"[a-z0-9+]+://([^:/]+):(\d+)", self.url)
        assert match is not None, self.url
        return match.group(1), int(match.group(2))


def _ready_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not readable:
        raise AssertionError(f"simulator printed no READY line within {timeout_s} s")
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        raise AssertionError(f"simulator said {line!r} instead of READY (exit {proc.poll()})")
    return line


@contextlib.contextmanager
def running_sim(kind: str, log_dir: Path, extra: Sequence[str] = (), *,
                mdwe: bool = False) -> Iterator[Sim]:
    """``cryoctl sim KIND`` on free loopback ports (port 0: it prints the ones it got)."""
    log_path = log_dir / f"sim-{kind}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            python_argv("-m", "cryoctl", "sim", kind, "--tcp", "127.0.0.1:0",
                        "--control", "127.0.0.1:0", "--log-level", "debug", *extra,
                        mdwe=mdwe),
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
            env=child_env(),
        )
        try:
            fields = dict(f.split("=", 1) for f in _ready_line(proc, 20.0).split()[2:])
            yield Sim(proc=proc, url=fields["url"], control=fields["control"],
                      log_path=log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def unit_lines(text: str) -> list[tuple[str, str, str]]:
    """A unit file as (section, key, value), continuation lines joined."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in unit_lines(path.read_text()) if k == key]


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)


def unit_command(unit: Path, key: str, config: Path) -> list[str]:
    """A unit's Exec line as arguments to ``python -m cryoctl``, with ``config``."""
    (line,) = unit_values(unit, key)
    words = line.split()
    assert words[0] == "/opt/cryoctl/venv/bin/cryoctl", words
    assert words[-2] == "--config", words
    return [*words[1:-1], str(config)]


def unit_environment(unit: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in unit_values(unit, "Environment"):
        for assignment in value.split():
            name, _, setting = assignment.partition("=")
            env[name] = setting
    return env


def watchdog_usec(unit: Path) -> int:
    (value,) = unit_values(unit, "WatchdogSec")
    assert value.endswith("s") and value[:-1].isdigit(), value
    return int(value[:-1]) * 1_000_000
