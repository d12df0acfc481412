"""Real processes for the end-to-end tests: a simulated unit, the control process, the CLI.

Every child runs ``python -m cryoctl`` with this checkout first on ``PYTHONPATH``
(the installed console script would import another tree). :class:`Children`
kills whatever is still running when its ``with`` block ends, so no process
outlives a test. Logs go to files in the test's folder (a full pipe would stall a
child); only the simulator's stdout is read, for its READY line.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CRYOCTL_CONFIG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def cryoctl(*args: str, timeout_s: float = 20, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to its end."""
    return subprocess.run([sys.executable, "-m", "cryoctl", *args], capture_output=True,
                          text=True, timeout=timeout_s, env=child_env(**env), check=False)


class Children:
    """Processes started in a ``with`` block; all killed (and reaped) when it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()

    def start(self, name: str, *args: str, stdout_pipe: bool = False,
              **env: str) -> subprocess.Popen[str]:
        log = (self.folder / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cryoctl", *args], env=child_env(**env), text=True,
            stdout=subprocess.PIPE if stdout_pipe else log, stderr=log,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def simulator(self, kind: str, *options: str, timeout_s: float = 15) -> Simulator:
        proc = self.start(f"sim-{kind}", "sim", kind, "--tcp", "127.0.0.1:0",
                          "--control", "127.0.0.1:0", *options, stdout_pipe=True)
        assert proc.stdout is not None
        line = _read_line(proc.stdout, timeout_s)
        assert line.startswith("READY "), f"{kind} simulator: {line!r}\n{self.log(f'sim-{kind}')}"
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        return Simulator(proc, fields["url"], fields["control"])


def _read_line(stream: IO[str], timeout_s: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s).strip()
    except queue.Empty:
        return "(no line within the deadline)"


class Simulator:
    def __init__(self, proc: subprocess.Popen[str], url: str, control: str) -> None:
        self.proc = proc
        self.url = url
        self.control = control

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control}/state", timeout=5) as answer:
            value: dict[str, Any] = json.loads(answer.read())
            return value

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.control}/{route}", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            value: dict[str, Any] = json.loads(answer.read())
            return value


def write_config(folder: Path, kind: str, url: str, *, extra: str = "") -> Path:
    path = folder / "cryoctl.toml"
    path.write_text(
        f'[unit]\nkind = "{kind}"\nurl = "{url}"\n\n'
        f'[control]\nsocket_path = "{folder / "control.sock"}"\nallowed_groups = []\n\n'
        f'[data]\ndir = "{folder}"\n\n[log]\nformat = "json"\n{extra}'
    )
    return path


def wait_for(predicate: Any, timeout_s: float, what: str, *, every_s: float = 0.02) -> float:
    """Poll until ``predicate()`` is true; the seconds it took."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(every_s)
    return time.monotonic() - began


def terminate(proc: subprocess.Popen[str], timeout_s: float = 5) -> tuple[int, float]:
    """SIGTERM, then the exit status and how long the process took to exit."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=timeout_s)
    return code, time.monotonic() - began


def socket_answers(path: Path) -> bool:
    """Whether the control socket at ``path`` answers a ping."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(os.fspath(path))
            s.sendall(b'{"v": 1, "id": 1, "type": "ping"}\n')
            return b'"ok":true' in s.recv(4096)
    except OSError:
        return False
