"""The records' disk fills up, or goes read-only, under a running control process.

The data folder is a small file system of its own: a tmpfs of 512 KB that a
filler file fills, and an ext4 image on a loop device that the kernel forces
read-only (``trigger_fs_error`` with ``errors=remount-ro``: what a failing disk
does, with the database open for writing, where ``mount -o remount,ro`` would be
refused as busy). A real simulator and ``cryoctl run``; staff over the socket, the
trigger over the simulator's control channel. Then: no new session starts (the
refusal names the records), ``records_write_failed`` is raised, the valve never
opens, and the daemon still answers ``status`` and ``estop``. Both need root
(mounting); they are skipped, saying so, where mounting is not permitted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Children, terminate
from records_rig import Device, Staff

from cryoctl.client import ControlClient

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for the records needs root")
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mounting is not permitted here: mount {' '.join(args)}: "
                    f"{done.stderr.strip()}")


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    _mount("-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder))
    yield folder
    _unmount(folder)


@pytest.fixture
def ext4_loop(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An ext4 file system on a loop device (errors=remount-ro); its folder and error knob."""
    image = tmp_path / "records.img"
    with image.open("wb") as f:
        f.truncate(4 * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True,
                          text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 is not usable here: {made.stderr.strip()}")
    folder = tmp_path / "data"
    folder.mkdir()
    _mount("-o", "loop,errors=remount-ro", str(image), str(folder))
    try:
        source = subprocess.run(["findmnt", "-no", "SOURCE", str(folder)], capture_output=True,
                                text=True, check=True).stdout.strip()
        knob = Path("/sys/fs/ext4") / Path(source).name / "trigger_fs_error"
        if not knob.exists():
            pytest.skip(f"{knob}: this kernel cannot force an ext4 file system read-only")
        yield folder, knob
    finally:
        _unmount(folder)


def _fill(folder: Path) -> int:
    """Write a filler file until the file system has no room left; the bytes it took."""
    written = 0
    with (folder / "filler").open("wb", buffering=0) as f:
        chunk = b"\0" * 4096
        while True:
            try:
                written += f.write(chunk) or 0
            except OSError:
                break
    return written


async def _refused_and_safe(device: Device, spoil: object, *words: str) -> None:
    async with ControlClient(device.sock) as c:
        staff = Staff(device, c)
        # One session while the disk is fine: it is recorded.
        assert (await staff.start("P-BEFORE")).ok
        await staff.spray(0.2)
        assert (await c.command("stop")).ok
        await staff.until("stopped", "completed")
        await staff.ready()
        assert callable(spoil)
        spoil()
        refused = await staff.start("P-AFTER")
        assert not refused.ok and not refused.overridable, refused
        assert "records cannot be written" in refused.reason, refused.reason
        assert any(w in refused.reason for w in words), refused.reason
        assert str(device.db) in refused.reason
        snap = await c.status()
        assert snap["phase"] == "ready"
        assert any(a["code"] == "records_write_failed" for a in snap["alarms"]["alarms"])
        # Asked again, still refused; the trigger opens nothing.
        again = await staff.start("P-AFTER")
        assert not again.ok and "records cannot be written" in again.reason
        mark = len(device.history())
        device.trigger(True)
        await asyncio.sleep(0.5)
        assert (await c.status())["phase"] == "ready"
        device.trigger(False)
        opened = [e for e in device.history()[mark:] if e["open"]]
        assert not opened and device.sim.state()["valve_open"] is False, opened
        # The daemon still answers, and an e-stop still stops.
        assert await c.estop("disk test")
        await staff.until("e-stopped", "estop")
        assert device.daemon.poll() is None


def _check_run(device: Device, children: Children) -> None:
    code, _ = terminate(device.daemon, timeout_s=10)
    log = children.log(f"run{device.runs}")
    assert code == 0, log
    assert "records write failed" in log


def test_a_full_disk_refuses_new_sessions_and_keeps_the_valve_shut(tiny_tmpfs: Path) -> None:
    with Children(tiny_tmpfs.parent) as children:
        device = Device(children, tiny_tmpfs, "n2")
        device.start_daemon()
        took: list[int] = []
        asyncio.run(_refused_and_safe(device, lambda: took.append(_fill(tiny_tmpfs)),
                                      "full"))
        assert took and took[0] < 512 * 1024
        _check_run(device, children)
        (tiny_tmpfs / "filler").unlink()
        rows = device.rows("SELECT patient_ref, outcome FROM sessions")
        assert [tuple(r) for r in rows] == [("P-BEFORE", "stopped")]


def test_a_records_disk_gone_read_only_refuses_new_sessions_and_keeps_the_valve_shut(
        ext4_loop: tuple[Path, Path]) -> None:
    folder, knob = ext4_loop
    with Children(folder.parent) as children:
        device = Device(children, folder, "n2")
        device.start_daemon()

        def read_only() -> None:
            knob.write_text("records disk test\n")
            began = time.monotonic()
            while "emergency_ro" not in _options(folder) and "ro" not in _options(folder):
                assert time.monotonic() - began < 5, _options(folder)
                time.sleep(0.05)

        asyncio.run(_refused_and_safe(device, read_only, "read-only", "readonly",
                                      "I/O error"))
        _check_run(device, children)
        rows = device.rows("SELECT patient_ref, outcome FROM sessions")
        assert [tuple(r) for r in rows] == [("P-BEFORE", "stopped")]


def _options(folder: Path) -> list[str]:
    found = subprocess.run(["findmnt", "-no", "OPTIONS", str(folder)], capture_output=True,
                           text=True, check=False).stdout.strip()
    return found.split(",")
