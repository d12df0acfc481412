"""The README, walked as a new developer walks it: on a fresh copy, in a fresh venv.

The checkout's files (``git ls-files``, with new files not yet committed) are copied
to a temporary folder, and the README's first command runs there word for word: it
makes the virtual environment, installs, and brings the whole device up on the
ports it names (8080 and 8765). The device must print its PINs and the panel's URL,
answer ``/api/v1/status`` with the control process reached, and stop on SIGINT
within 5 s with no process left. When one of those ports is taken on this machine
the command runs without its last step (the install only) and the device part is
skipped, saying so. Then each fenced block of the developer section runs in that
venv, as one bash script with ``set -euo pipefail``; a block marked ``# not run in
CI: WHY`` is skipped with WHY, as is one whose ports are taken or whose tools
(``mbpoll``, ``curl``) are not installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from readme_blocks import DEVELOPER_HEADING, Block, Readme

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
README = Readme.read(ROOT / "README.md")
FIRST_COMMAND = ("python3 -m venv .venv && . .venv/bin/activate "
                 "&& pip install -c constraints.txt -e '.[dev]' && cryoctl run --simulate n2")
TEST_COMMAND = "python -m pytest"
#: The ports the first command uses as written: the panel server and the unit's control channel.
DEVICE_PORTS = (8080, 8765)
#: Programs a block may call that the README lists as prerequisites.
TOOLS = ("mbpoll", "curl")
#: The panel as the first command names it (the page, with the API below it).
PANEL_URL = "http://127.0.0.1:8080/"
_PIN_LINE = re.compile(r"cryoctl: (staff|technician) PIN \d{6}$")
INSTALL_TIMEOUT_S = 600.0
BLOCK_TIMEOUT_S = 300.0
STOP_WITHIN_S = 5.0
#: How long a block's background processes have to go once the block has ended.
LEFTOVER_GRACE_S = 5.0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def clean_env(home: Path) -> dict[str, str]:
    """A new terminal's environment: no venv active, no pytest of ours, HOME of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CRYOCTL_", "VIRTUAL_ENV", "COV_"))}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    env["HOME"] = str(home)
    env.pop("XDG_STATE_HOME", None)
    env.pop("PYTHONPATH", None)
    return env


def processes_under(folder: Path) -> list[str]:
    """Processes whose command line names ``folder`` (its venv's python does)."""
    found = []
    mark = str(folder).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if mark in cmdline:
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {shown}")
    return found


def stop_leftovers(folder: Path, *, grace_s: float) -> list[str]:
    """What still runs from ``folder`` after ``grace_s`` (a process stopping may take a
    moment); those are killed, and returned."""
    deadline = time.monotonic() + grace_s
    left = processes_under(folder)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_under(folder)
    for line in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    return left


def copy_checkout(into: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = ROOT / rel
        if not source.is_file():  # deleted in the working tree, not yet committed
            continue
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@dataclass
class FirstRun:
    checkout: Path
    home: Path
    #: Why the device part did not run, or None.
    skipped: str | None = None
    out: list[str] = field(default_factory=list)
    status: dict[str, object] | None = None
    stopped_in_s: float | None = None
    returncode: int | None = None
    left_running: list[str] = field(default_factory=list)


def _read_until_panel(proc: subprocess.Popen[str], out: list[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + INSTALL_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line.rstrip("\n"))
        pins = sum(bool(_PIN_LINE.match(said)) for said in out)
        if pins == 2 and line.startswith("cryoctl: ") and PANEL_URL in line:
            return
    raise AssertionError("the first command never printed its PINs and the panel's URL:\n"
                         + "\n".join(out[-40:]))


def _drain(proc: subprocess.Popen[str], out: list[str]) -> None:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        try:
            line = proc.stdout.readline()
        except (BlockingIOError, ValueError):
            return
        if not line:
            return
        out.append(line.rstrip("\n"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    base = tmp_path_factory.mktemp("readme")
    checkout, home = base / "cryoctl", base / "home"
    checkout.mkdir()
    home.mkdir()
    copy_checkout(checkout)
    run = FirstRun(checkout, home)
    env = clean_env(home)
    busy = [p for p in DEVICE_PORTS if not port_free(p)]
    if busy:
        run.skipped = (f"port {', '.join(map(str, busy))} is taken on this machine; the first "
                       "command as written needs 8080 and 8765, so only its install ran")
        install = FIRST_COMMAND.rsplit(" && ", 1)[0]
        done = subprocess.run(["bash", "-c", install], cwd=checkout, env=env, text=True,
                              capture_output=True, timeout=INSTALL_TIMEOUT_S)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        yield run
        return
    proc = subprocess.Popen(["bash", "-c", FIRST_COMMAND], cwd=checkout, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _read_until_panel(proc, run.out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                answer = httpx.get("http://127.0.0.1:8080/api/v1/status", timeout=5.0)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                run.status = answer.json()
                if run.status.get("link") == "connected":
                    break
            time.sleep(0.2)
        # Ctrl-C in the terminal: SIGINT to the foreground process group.
        asked = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        try:
            run.returncode = proc.wait(timeout=STOP_WITHIN_S + 10)
        except subprocess.TimeoutExpired:
            run.returncode = None
        run.stopped_in_s = time.monotonic() - asked
        _drain(proc, run.out)
        # Its own wait for the children is inside the 5 s; nothing may be left after it.
        run.left_running = stop_leftovers(checkout, grace_s=0.0)
        yield run
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        stop_leftovers(checkout, grace_s=0.0)


def test_the_first_screen_is_the_two_commands() -> None:
    assert [b.text for b in README.first_screen()] == [FIRST_COMMAND + "\n", TEST_COMMAND + "\n"]


def test_the_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci]


def test_the_first_command_brings_the_whole_device_up(first_run: FirstRun) -> None:
    if first_run.skipped:
        pytest.skip(first_run.skipped)
    out = "\n".join(first_run.out)
    assert re.search(r"^cryoctl: staff PIN \d{6}$", out, re.MULTILINE), out
    assert re.search(r"^cryoctl: technician PIN \d{6}$", out, re.MULTILINE), out
    assert re.search(rf"^cryoctl: .*{re.escape(PANEL_URL)}", out, re.MULTILINE), out
    assert f"{first_run.home}/.local/state/cryoctl/simulate-n2" in out  # where its state is
    assert first_run.status is not None, "GET /api/v1/status never answered 200"
    assert first_run.status["link"] == "connected", first_run.status
    assert first_run.returncode == 0, out[-4000:]
    assert first_run.stopped_in_s is not None and first_run.stopped_in_s < STOP_WITHIN_S
    assert first_run.left_running == []
    assert "Traceback" not in out


def test_the_test_command_is_not_walked() -> None:
    pytest.skip(f"`{TEST_COMMAND}` (the first screen's) is the whole suite, this test among "
                "it: .ci/run runs it word for word")


DEVELOPER_BLOCKS = README.section(DEVELOPER_HEADING)


def test_the_developer_section_has_commands_to_walk() -> None:
    walked = [b for b in DEVELOPER_BLOCKS if b.not_run_because is None]
    assert len(walked) >= 4, [b.name for b in DEVELOPER_BLOCKS]


@pytest.mark.parametrize("block", DEVELOPER_BLOCKS, ids=[b.name for b in DEVELOPER_BLOCKS])
def test_a_developer_block_runs(block: Block, first_run: FirstRun) -> None:
    if block.not_run_because:
        pytest.skip(f"{block.name} is marked not run in CI: {block.not_run_because}")
    missing = [t for t in TOOLS if re.search(rf"\b{t}\b", block.text) and not shutil.which(t)]
    if missing:
        pytest.skip(f"{block.name} needs {', '.join(missing)}, not installed (a prerequisite)")
    busy = sorted(p for p in block.ports if not port_free(p))
    if busy:
        pytest.skip(f"{block.name} names ports taken on this machine: {busy}")
    script = f"set -euo pipefail\n. .venv/bin/activate\n{block.text}"
    proc = subprocess.Popen(["bash", "-c", script], cwd=first_run.checkout,
                            env=clean_env(first_run.home), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{block.name} did not finish in {BLOCK_TIMEOUT_S:g} s:\n{out}\n{err}")
    finally:
        # A simulator told to stop by the block's last `kill` may take a moment to go.
        left = stop_leftovers(first_run.checkout, grace_s=LEFTOVER_GRACE_S)
    assert proc.returncode == 0, f"{block.name} failed:\n{block.text}\n--- stdout\n{out}\n" \
                                 f"--- stderr\n{err}"
    assert left == [], f"{block.name} left processes running: {left}"
    assert "Traceback" not in out + err
