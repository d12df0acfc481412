"""``cryoctl run --simulate KIND``: the whole device on one machine, for a developer or a demo.

Three programs, as on the device: a simulated unit (``cryoctl sim``) as a child
process on loopback, reached through the real driver over real TCP; this process
as the control process; and the panel server (``cryoctl panel``) as a second
child. The state (config, socket, profiles, the records database) lives in a
folder of the user's state directory, printed at start. With no PINs configured,
random ones are made and printed once, one line per role. Ctrl-C or SIGTERM
stops all three in order: the control loop first (the valve closed), then the
panel server, then the unit; no child outlives it.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import structlog

from cryoctl.config import load_config
from cryoctl.errors import StartupFailed
from cryoctl.pins import hash_pin, random_pin
from cryoctl.profile.kinds import DeviceKind
from cryoctl.records.schema import DB_NAME

__all__ = ["SimulateOptions", "simulate", "state_dir"]

_log = structlog.get_logger("cryoctl.simulate")

#: How long a child has to go once asked.
_STOP_TIMEOUT_S: Final = 3.0
_PR_SET_PDEATHSIG: Final = 1
_SCHEMES: Final = {DeviceKind.N2: "n2+socket", DeviceKind.CJ_AIR: "modbus+tcp"}


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    kind: DeviceKind
    data_dir: Path
    panel_port: int = 8080
    control_port: int = 8765
    speed: float = 1.0


def state_dir() -> Path:
    """Where ``--simulate`` keeps its state: $XDG_STATE_HOME/cryoctl or ~/.local/state/cryoctl."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cryoctl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child(args: list[str], *, stdout: IO[str] | int | None,
           stderr: IO[str] | int | None = None) -> subprocess.Popen[str]:
    # A session of its own: the terminal's Ctrl-C reaches only this process, which
    # stops the children itself, in order, after the valve is closed.
    return subprocess.Popen(
        [sys.executable, "-m", "cryoctl", *args],
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _drain(stream: IO[str], into: Path) -> None:
    """Copy a child's output to a log file (a pipe nobody reads would stall the child)."""
    def copy() -> None:
        with into.open("a", encoding="utf-8") as out:
            for line in stream:
                out.write(line)
                out.flush()

    threading.Thread(target=copy, name=f"drain {into.name}", daemon=True).start()


def _wait_ready(proc: subprocess.Popen[str], what: str) -> str:
    """The simulator's READY line (it prints one when its wire listens)."""
    assert proc.stdout is not None
    said: list[str] = []
    for line in proc.stdout:  # its log lines come first; READY says the wire listens
        if line.startswith("READY"):
            return line.strip()
        said.append(line.strip())
    proc.kill()
    raise StartupFailed(f"{what} did not start: {(said or ['no READY line'])[-1]}")


def _stop(proc: subprocess.Popen[str] | None, what: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _log.warning(f"{what} killed: it did not stop in time")
    else:
        _log.info(f"{what} stopped")


def _write_config(opts: SimulateOptions, unit_url: str, pins: dict[str, str]) -> Path:
    folder = opts.data_dir
    (folder / "profiles").mkdir(parents=True, exist_ok=True)
    path = folder / "cryoctl.toml"
    text = "\n".join([
        "# Written by `cryoctl run --simulate`; edit a copy for a real unit.",
        "[unit]",
        f'kind = "{opts.kind.value}"',
        f'url = "{unit_url}"',
        "",
        "[control]",
        f'socket_path = "{folder / "control.sock"}"',
        "",
        "[api]",
        'bind = "127.0.0.1"',
        f"port = {opts.panel_port}",
        "",
        "[data]",
        f'dir = "{folder}"',
        "",
        "[auth]",
        f'staff_pin_hash = "{hash_pin(pins["staff"])}"',
        f'technician_pin_hash = "{hash_pin(pins["technician"])}"',
        "",
    ])
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@contextmanager
def _children() -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    started: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        yield started
    finally:
        for what, proc in reversed(started):
            _stop(proc, what)


def simulate(opts: SimulateOptions) -> int:
    """Run the whole device until Ctrl-C or SIGTERM; the exit status."""
    from cryoctl.control.daemon import run_control
    from cryoctl.control.notify import Notifier

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    wire_port = _free_port()
    pins = {"staff": random_pin(), "technician": random_pin()}
    with _children() as started:
        sim_args = ["sim", opts.kind.value, "--tcp", f"127.0.0.1:{wire_port}",
                    "--control", f"127.0.0.1:{opts.control_port}"]
        if opts.speed != 1.0:
            sim_args += ["--speed", f"{opts.speed:g}"]
        # The unit's own log goes to a file, not into the developer's terminal.
        sim = _child(sim_args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(("simulated unit", sim))
        ready = _wait_ready(sim, f"the simulated {opts.kind.value} unit")
        assert sim.stdout is not None
        _drain(sim.stdout, opts.data_dir / "sim.log")
        query = "?device_id=1" if opts.kind is DeviceKind.CJ_AIR else ""
        unit_url = f"{_SCHEMES[opts.kind]}://127.0.0.1:{wire_port}{query}"
        config_path = _write_config(opts, unit_url, pins)
        config = load_config(config_path)
        panel = _child(["panel", "--config", str(config_path)], stdout=None)
        started.append(("panel server", panel))
        print(f"cryoctl: simulated {opts.kind.value} unit at {unit_url} ({ready})", flush=True)
        print(f"cryoctl: its control channel at http://127.0.0.1:{opts.control_port} "
              f"(its log in {opts.data_dir / 'sim.log'})", flush=True)
        print(f"cryoctl: state in {opts.data_dir} (config {config_path})", flush=True)
        print(f"cryoctl: session records in {opts.data_dir / DB_NAME} "
              f"(cryoctl records --db PATH)", flush=True)
        for role, pin in pins.items():
            print(f"cryoctl: {role} PIN {pin}", flush=True)
        base = f"http://127.0.0.1:{opts.panel_port}"
        print(f"cryoctl: the panel: open {base}/ in a browser and sign in with a PIN",
              flush=True)
        print(f"cryoctl: the panel server's API at {base}/api/v1/status, described at "
              f"{base}/openapi.json; Ctrl-C stops everything", flush=True)

        async def run() -> int:
            stop_event = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop_event.set)
            try:
                return await run_control(config, notifier=Notifier.from_env(),
                                         stop_event=stop_event)
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with suppress(ValueError):
                        loop.remove_signal_handler(sig)

        return asyncio.run(run())
