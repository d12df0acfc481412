"""The control process's pieces in process: "healthy", watchdog pings, the status screen."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
from socket_rig import serve

from cryoctl.cli.status import format_snapshot
from cryoctl.client import ControlClient
from cryoctl.control.daemon import is_healthy, watchdog_pings
from cryoctl.control.notify import Notifier

pytestmark = pytest.mark.timeout(30)


def _drain(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    while True:
        try:
            out.append(sock.recv(1024))
        except BlockingIOError:
            return out


async def _until(predicate: object, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_healthy_means_reading_the_unit_on_time_with_the_loop_running(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        await _until(lambda: is_healthy(s.controller, s.task, time.monotonic()))
        assert not is_healthy(s.controller, None, time.monotonic())
        # an old verdict is not health: a loop that stopped reading 1 s ago is not healthy
        assert not is_healthy(s.controller, s.task, time.monotonic() + 1.0)
        s.unit.inputs.link_down = True
        await _until(lambda: not is_healthy(s.controller, s.task, time.monotonic()))
        s.unit.inputs.link_down = False
        await _until(lambda: is_healthy(s.controller, s.task, time.monotonic()), 5)


async def test_watchdog_pings_only_while_healthy(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(os.fspath(tmp_path / "notify.sock"))
    listener.setblocking(False)
    healthy = True
    with listener, Notifier(os.fspath(tmp_path / "notify.sock")) as notifier:
        task = asyncio.create_task(watchdog_pings(notifier, lambda: healthy, every_s=0.02))
        await asyncio.sleep(0.15)
        assert _drain(listener).count(b"WATCHDOG=1") >= 3
        healthy = False
        await asyncio.sleep(0.03)
        _drain(listener)
        await asyncio.sleep(0.15)
        assert _drain(listener) == []
        healthy = True
        await asyncio.sleep(0.1)
        assert b"WATCHDOG=1" in _drain(listener)
        task.cancel()


async def test_the_status_screen_shows_session_readings_and_alarms(tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c:
        assert "profile   none loaded" in format_snapshot(await c.status())
        assert (await c.load_profile("n2-face-cryomassage")).ok
        assert (await c.command("start_session")).ok
        await _until(lambda: s.controller.treatment.phase.value == "treating_armed")
        await c.estop("test")
        screen = "\n".join(format_snapshot(await c.status()))
    assert screen.startswith("state     estop  (healthy")
    assert 'profile   n2-face-cryomassage v1 "Face cryomassage"' in screen
    assert "unit      FAKE-n2 0001" in screen
    assert "e-stop" in screen and "nozzle    M" in screen
    assert "O2        20.9 %" in screen
    assert "ages: fast" in screen
    assert "[HIGH] estop" in screen
