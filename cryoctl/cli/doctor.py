"""``cryoctl doctor``: does this machine have what the device needs? One line per check.

Each line is ``STATUS  CHECK  what was found`` and, for anything to fix, ``-> the fix``.
``ok`` is fine, ``FIX`` must be fixed, ``note`` is only needed by a developer (the
tests' tools) or does not apply here (no serial line on a TCP unit). Exit status 0
when nothing is to fix, 1 otherwise; ``--json`` prints the same as one JSON object.

It reads, connects and asks; it never writes. It asks the control process for its
status, nothing else, and while that process holds the unit's link it does not open
a second one.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import click

from cryoctl.cli._options import config_option
from cryoctl.config import Config, load_config
from cryoctl.errors import ConfigError, ControlTimeout, ControlUnavailable, RequestRejected

__all__ = ["Check", "Status", "command", "run_checks"]

#: Each network check gives up after this long.
TIMEOUT_S: Final = 1.5
#: The oldest Python the project runs on (pyproject's requires-python).
MIN_PYTHON: Final = (3, 11)
#: Debian packages and why each is wanted; ``True`` when the device itself needs it.
PACKAGES: Final = (
    ("socat", "socat", False, "a serial line made of two ptys, to put a simulated unit and "
     "a driver on either end by hand (no test needs it)"),
    ("mbpoll", "mbpoll", False, "poking a Modbus unit by hand; tests/simulator/cjair/"
     "test_cjair_mbpoll.py skips without it"),
    ("shellcheck", "shellcheck", False, "the check of systemd/install.sh in the tests"),
    ("curl", "curl", False, "the simulator's control channel in the README's commands"),
    ("chromium", "chromium", False, "the panel's screenshots and browser tests, and the kiosk "
     "on a device with cage"),
)
_SERIAL_SCHEMES: Final = frozenset({"n2+serial", "modbus+rtu"})
_EXAMPLE_CONFIG: Final = "systemd/cryoctl.example.toml"


class Status(enum.StrEnum):
    OK = "ok"
    FIX = "FIX"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self, width: int) -> str:
        text = f"{self.status.value:<4}  {self.name:<{width}}  {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text


def _python() -> Check:
    found = ".".join(str(n) for n in sys.version_info[:3])
    need = ".".join(str(n) for n in MIN_PYTHON)
    if sys.version_info >= MIN_PYTHON:
        return Check("python", Status.OK, f"Python {found} ({sys.executable}); needs {need}+")
    return Check("python", Status.FIX, f"Python {found}; cryoctl needs {need}+",
                 f"install Python {need} or newer (Debian 12: apt-get install python3) "
                 "and make the venv with it")


def _venv_package() -> Check:
    python3 = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")
    if python3 is None:
        return Check("python3-venv", Status.FIX, "no python3 on PATH",
                     "sudo apt-get install python3 python3-venv")
    done = subprocess.run([python3, "-c", "import ensurepip, venv"], capture_output=True,
                          timeout=30, check=False)
    if done.returncode == 0:
        return Check("python3-venv", Status.OK, f"{python3} can make a virtual environment")
    return Check("python3-venv", Status.FIX, f"{python3} cannot make a venv (no ensurepip)",
                 "sudo apt-get install python3-venv")


def _packages() -> list[Check]:
    checks = [_venv_package()]
    for name, program, device_needs, why in PACKAGES:
        path = shutil.which(program)
        if path is not None:
            checks.append(Check(name, Status.OK, f"{path}: {why}"))
        else:
            checks.append(Check(name, Status.FIX if device_needs else Status.NOTE,
                                f"not installed: {why}", f"sudo apt-get install {name}"))
    return checks


def _config(path: Path) -> tuple[Check, Config | None]:
    if not path.exists():
        return Check("config", Status.FIX, f"{path}: no such file",
                     f"copy {_EXAMPLE_CONFIG} to {path} and set [unit], or name another with "
                     "--config (cryoctl run --simulate writes its own)"), None
    try:
        config = load_config(path)
    except ConfigError as exc:
        problems = exc.problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("config", Status.FIX, f"{problems[0]}{more}",
                     f"edit {path}; `cryoctl run --config {path}` lists every problem"), None
    return Check("config", Status.OK, f"{path}: {config.unit.kind.value} unit at "
                 f"{config.unit.url}"), config


def _serial(url: str) -> Check:
    where = Path(urlsplit(url).path)
    try:
        info = where.stat()
    except FileNotFoundError:
        return Check("serial", Status.FIX, f"{where}: no such device",
                     "plug in the unit's USB adapter; systemd/99-cryo-unit.rules names it "
                     "/dev/cryo-unit (sudo udevadm control --reload, then replug)")
    except OSError as exc:
        return Check("serial", Status.FIX, f"{where}: {exc.strerror}",
                     "check the device path in [unit] url")
    if not stat.S_ISCHR(info.st_mode):
        return Check("serial", Status.FIX, f"{where} is not a character device",
                     "point [unit] url at the adapter's tty (e.g. /dev/cryo-unit)")
    if not os.access(where, os.R_OK | os.W_OK):
        group = _group_name(info.st_gid)
        user = os.environ.get("USER", "this user")
        return Check("serial", Status.FIX, f"{where}: no read/write permission for {user} "
                     f"(group {group}, mode {stat.filemode(info.st_mode)})",
                     f"sudo usermod -aG {group} {user}, then log in again (the service's "
                     "user cryoctl has the group already)")
    return Check("serial", Status.OK, f"{where}: a character device this user may open")


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _unit(config: Config | None, held: Mapping[str, Any] | None) -> Check:
    """The unit's serial device, or its TCP port; never a second link beside the control
    process's (``held``: its status, when it answers), which a real unit may not take."""
    if config is None:
        return Check("unit", Status.NOTE, "not checked: no usable config")
    url = config.unit.url
    parts = urlsplit(url)
    if parts.scheme in _SERIAL_SCHEMES:
        return _serial(url)
    if held is not None:
        who = held.get("identity") or {}
        named = " ".join(str(who.get(k)) for k in ("model", "serial") if who.get(k))
        return Check("unit", Status.OK, f"{url}: the control process holds the link "
                     f"({named or 'unit not identified yet'}, phase {held.get('phase')}); "
                     "not connected to again")
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S):
            pass
    except OSError as exc:
        return Check("unit", Status.FIX, f"nothing answers at {host}:{port} "
                     f"({exc.strerror or exc})", "start the unit or its simulator "
                     f"(cryoctl sim {config.unit.kind.value} --tcp {host}:{port})")
    return Check("unit", Status.OK, f"{host}:{port} accepts a connection (a TCP unit: no serial "
                 "device to check); `cryoctl probe URL` identifies it")


def _data_dir(config: Config) -> Check:
    folder = config.data.dir
    if not folder.exists():
        return Check("data", Status.FIX, f"{folder}: no such directory",
                     f"sudo install -d -o cryoctl -g cryoctl -m 0750 {folder} {folder}/profiles "
                     "(systemd/install.sh does it); on a laptop set [data] dir to a folder "
                     "of your own")
    if not folder.is_dir():
        return Check("data", Status.FIX, f"{folder} is not a directory",
                     "set [data] dir to a directory")
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return Check("data", Status.FIX, f"{folder}: this user may not write in it",
                     f"run as the service's user cryoctl, or sudo chown cryoctl: {folder}")
    return Check("data", Status.OK, f"{folder}: a directory this user may write in")


async def _status(path: Path) -> dict[str, Any]:
    from cryoctl.client import ControlClient

    async with ControlClient(path, timeout_s=TIMEOUT_S) as client:
        return await client.status(timeout_s=TIMEOUT_S)


def _socket(config: Config) -> tuple[Check, dict[str, Any] | None]:
    """The control socket, and the control process's status when it answers."""
    path = config.control.socket_path
    start = "start the control process: sudo systemctl start cryoctl (journalctl -u cryoctl " \
            "says why it stopped), or cryoctl run --config FILE"
    if not path.exists():
        return Check("socket", Status.FIX, f"{path}: no such socket (no control process)",
                     start), None
    if not stat.S_ISSOCK(path.stat().st_mode):
        return Check("socket", Status.FIX, f"{path} is not a socket",
                     "remove it, or set [control] socket_path elsewhere"), None
    try:
        snapshot = asyncio.run(_status(path))
    except (ControlUnavailable, ControlTimeout, RequestRejected, OSError) as exc:
        said = str(exc).removeprefix(f"{path}: ")
        if "permission denied" in said:
            start = "sudo usermod -aG cryoctl-tech $USER, then log in again"
        return Check("socket", Status.FIX, f"{path}: {said}", start), None
    healthy = "healthy" if snapshot.get("healthy") else "NOT healthy"
    return Check("socket", Status.OK, f"{path}: the control process answers "
                 f"(phase {snapshot.get('phase')}, {healthy})"), snapshot


def _panel(config: Config) -> Check:
    host = config.api.bind
    if host in {"0.0.0.0", "::"}:
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{config.api.port}/api/v1/status"
    request = urllib.request.Request(url)
    start = "start the panel server: sudo systemctl start cryoctl-panel, or cryoctl panel " \
            "--config FILE"
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            code = answer.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("panel", Status.FIX, f"{url}: {reason}", start)
    if code == 200:
        return Check("panel", Status.OK, f"{url} answers")
    return Check("panel", Status.FIX, f"{url} answers {code}",
                 "journalctl -u cryoctl-panel says why")


def run_checks(config_path: Path) -> list[Check]:
    """Every check, in the order a person would fix them."""
    checks = [_python(), *_packages()]
    config_check, config = _config(config_path)
    # Without a usable config the rest is judged at the defaults, and says so.
    effective = config or Config.model_validate({"unit": {"kind": "n2",
                                                          "url": "n2+serial:///dev/cryo-unit"}})
    socket_check, held = _socket(effective)
    rest = [_data_dir(effective), socket_check, _panel(effective)]
    if config is None:
        rest = [Check(c.name, c.status, f"{c.detail} (the default)", c.fix) for c in rest]
    return [*checks, config_check, _unit(config, held), *rest]


@click.command("doctor")
@config_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(config_path: Path, as_json: bool) -> None:
    """Check this machine for what the device needs, one line per check with its fix.

    Python, the Debian packages, the config, the unit (its serial device and
    permissions, or its TCP port), the data directory, the control socket and the
    panel server. Exit status 0 when nothing is to fix, 1 otherwise.
    """
    checks = run_checks(config_path)
    failed = any(c.status is Status.FIX for c in checks)
    if as_json:
        document = {
            "ok": not failed,
            "checks": [{"check": c.name, "status": c.status.name.lower(), "detail": c.detail,
                        "fix": c.fix or None} for c in checks],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            click.echo(check.line(width))
        click.echo("nothing to fix" if not failed else
                   f"{sum(c.status is Status.FIX for c in checks)} to fix")
    raise SystemExit(1 if failed else 0)
