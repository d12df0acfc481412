"""The control socket's client: deadlines, ids, clear errors, a subscription that comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from socket_rig import serve

from cryoctl.client import ControlClient, Disconnected, follow
from cryoctl.errors import ControlTimeout, ControlUnavailable
from cryoctl.protocol import decode_message

pytestmark = pytest.mark.timeout(30)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted(path: Path, handler: Handler) -> AsyncIterator[None]:
    """A bare server on ``path`` that talks as ``handler`` says (no controller)."""
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_unix_server(run, path=os.fspath(path))
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def test_no_control_process_is_control_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ControlUnavailable, match="no control process"):
        await ControlClient(tmp_path / "none.sock").connect()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fspath(tmp_path / "stale.sock"))
    stale.close()
    with pytest.raises(ControlUnavailable, match="no control process listening"):
        async with ControlClient(tmp_path / "stale.sock"):
            pass


async def test_every_request_has_a_deadline(tmp_path: Path) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing

    path = tmp_path / "mute.sock"
    async with scripted(path, mute), ControlClient(path, timeout_s=0.2) as c:
        began = time.monotonic()
        with pytest.raises(ControlTimeout, match=re.escape("no answer to estop within 0.2 s")):
            await c.estop("test")
        assert time.monotonic() - began < 1.0
        with pytest.raises(TimeoutError):  # a ControlTimeout is a TimeoutError too
            await c.status(timeout_s=0.05)


async def test_replies_are_matched_to_requests_by_id(tmp_path: Path) -> None:
    async def backwards(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = json.loads(await reader.readline())
        second = json.loads(await reader.readline())
        for req in (second, first):  # the later request is answered first
            writer.write(json.dumps({"v": 1, "id": req["id"], "type": "reply", "ok": True,
                                     "reason": req["command"]}).encode() + b"\n")
        await writer.drain()
        await reader.read()

    path = tmp_path / "backwards.sock"
    async with scripted(path, backwards), ControlClient(path, timeout_s=2) as c:
        pause, resume = await asyncio.gather(c.command("pause"), c.command("resume"))
        assert (pause.reason, resume.reason) == ("pause", "resume")


async def test_a_connection_that_breaks_fails_what_waits_on_it(tmp_path: Path) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    path = tmp_path / "hangup.sock"
    async with scripted(path, hang_up), ControlClient(path, timeout_s=2) as c:
        with pytest.raises(ControlUnavailable, match="closed the connection"):
            await c.status()
        with pytest.raises(ControlUnavailable):
            await c.ping()


async def test_follow_says_disconnected_once_and_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    items = follow(path, retry_s=0.05)
    async with contextlib.aclosing(items):
        first = await asyncio.wait_for(anext(items), 2)
        assert isinstance(first, Disconnected) and "no control process" in first.reason
        async with serve(tmp_path):
            got = await asyncio.wait_for(anext(items), 2)  # no second Disconnected meanwhile
            assert not isinstance(got, Disconnected) and got.type == "snapshot"
        async with asyncio.timeout(2):
            while not isinstance(await anext(items), Disconnected):
                pass
        async with serve(tmp_path):
            async with asyncio.timeout(2):
                again = await anext(items)
            assert not isinstance(again, Disconnected) and again.type == "snapshot"


def test_every_kind_of_line_from_the_control_process_decodes() -> None:
    lines = [
        b'{"v": 1, "id": 1, "type": "reply", "ok": false, "reason": "no"}',
        b'{"v": 1, "id": 2, "type": "estop", "acknowledged": true}',
        b'{"v": 1, "id": 3, "type": "status", "snapshot": {"phase": "idle"}}',
        b'{"v": 1, "type": "error", "message": "line too long"}',
        b'{"v": 1, "type": "snapshot", "snapshot": {}}',
        b'{"v": 1, "type": "event", "event": {"name": "state_changed"}}',
    ]
    assert [decode_message(line).type for line in lines] == [
        "reply", "estop", "status", "error", "snapshot", "event"]
    for bad in (b"[]", b"nope", b'{"v": 1, "type": "launch"}', b'{"v": 2, "type": "event"}'):
        with pytest.raises(ValueError):
            decode_message(bad)
