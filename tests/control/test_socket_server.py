"""The control socket in process: a real-time controller on the fake unit, real Unix sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from socket_rig import Raw, serve

from cryoctl.client import ControlClient
from cryoctl.control import socket_server
from cryoctl.control.requests import staff_command
from cryoctl.control.socket_server import ControlServer
from cryoctl.errors import RequestRejected, SocketInUse
from cryoctl.profile import shipped_profiles
from cryoctl.protocol import COMMANDS, MAX_LINE_BYTES, CommandRequest

pytestmark = pytest.mark.timeout(30)

FACE = next(p for p in shipped_profiles() if p.name == "n2-face-cryomassage")
LENTIGO_TOML = (Path(__file__).resolve().parents[2] / "profiles" / "n2-lentigo.toml").read_bytes()


async def _phase(client: ControlClient, want: str, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (phase := (await client.status())["phase"]) != want:
        assert time.monotonic() < deadline, f"phase {phase}, wanted {want}"
        await asyncio.sleep(0.01)


async def test_status_ping_and_a_refused_command(tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c:
        snap = await c.status()
        assert snap["phase"] == "idle"
        assert snap["identity"]["model"] == "FAKE-n2"
        assert snap["unit"]["nozzle"] == "M"
        await c.ping()
        reply = await c.command("pause")
        assert reply.ok is False
        assert "pause" in reply.reason and "idle" in reply.reason


async def test_load_profile_by_name_and_hash_then_a_session(tmp_path: Path) -> None:
    installed = tmp_path / "profiles"
    installed.mkdir()
    (installed / "n2-lentigo-local-v1.toml").write_bytes(
        LENTIGO_TOML.replace(b'name = "n2-lentigo"', b'name = "n2-lentigo-local"', 1))
    async with serve(tmp_path, profile_dir=installed) as s, ControlClient(s.path) as c:
        missing = await c.load_profile("no-such-profile")
        assert not missing.ok and "no such profile" in missing.reason
        wrong = await c.load_profile(FACE.name, sha256="0" * 64)
        assert not wrong.ok and "sha256" in wrong.reason
        other_kind = await c.load_profile("air-face-tone")
        assert not other_kind.ok and other_kind.reason
        local = await c.load_profile("n2-lentigo-local")
        assert local.ok, local.reason
        assert (await c.status())["profile"]["name"] == "n2-lentigo-local"
        right = await c.load_profile(FACE.name, sha256=FACE.sha256)
        assert right.ok, right.reason
        snap = await c.status()
        assert snap["phase"] == "ready"
        assert snap["profile"]["sha256"] == FACE.sha256
        started = await c.command("start_session")
        assert started.ok, started.reason
        await _phase(c, "treating_armed")
        assert (await c.status())["session"]["zone_name"] == "forehead"
        assert (await c.command("acknowledge", up_to_seq=0)).ok
        with pytest.raises(RequestRejected, match="up_to_seq belongs to acknowledge"):
            await c.command("pause", up_to_seq=3)
        assert (await c.command("pause")).ok
        await _phase(c, "paused")


def test_every_protocol_command_names_a_staff_command() -> None:
    for name in COMMANDS:
        request = CommandRequest(id=1, type="command", command=name)  # type: ignore[arg-type]
        assert staff_command(request) is not None


async def test_malformed_and_unknown_lines_get_errors_and_the_connection_stays(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        raw = await Raw.open(s.path)
        await raw.send(b"garbage\n")
        err = await raw.line()
        assert err["type"] == "error" and err["id"] is None and "not JSON" in err["message"]
        await raw.send(b'{"v": 1, "id": 5, "type": "launch"}\n')
        err = await raw.line()
        assert err["type"] == "error" and err["id"] == 5
        await raw.send(b'{"v": 2, "id": 6, "type": "status"}\n')
        assert (await raw.line())["id"] == 6
        await raw.send(b'{"v": 1, "id": 7, "type": "command", "command": "spray"}\n')
        err = await raw.line()
        assert err["type"] == "error" and err["id"] == 7
        await raw.send(b"\xff\xfe\n\n")
        assert (await raw.line())["type"] == "error"
        assert (await raw.line())["type"] == "error"
        reply = await raw.ask({"id": 8, "type": "status"})
        assert reply["type"] == "status" and reply["id"] == 8
        await raw.aclose()


async def test_an_oversized_line_gets_an_error_and_the_connection_is_closed(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        raw = await Raw.open(s.path)
        await raw.send(b'{"v": 1, "id": 1, "type": "ping", "pad": "' + b"x" * MAX_LINE_BYTES)
        await raw.send(b'"}\n')
        err = await raw.line()
        assert err["type"] == "error" and "longer than" in err["message"]
        assert await raw.closed()
        await raw.aclose()
        # the server goes on serving others
        async with ControlClient(s.path) as c:
            await c.ping()


async def test_a_silent_client_is_closed_but_a_subscriber_is_not(tmp_path: Path) -> None:
    async with serve(tmp_path, idle_timeout_s=0.3) as s:
        silent = await Raw.open(s.path)
        subscriber = await Raw.open(s.path)
        assert (await subscriber.ask({"id": 1, "type": "subscribe"}))["ok"] is True
        assert (await subscriber.line())["type"] == "snapshot"
        began = time.monotonic()
        err = await silent.line()
        assert err["type"] == "error" and "no request" in err["message"]
        assert await silent.closed()
        assert 0.25 <= time.monotonic() - began < 1.5
        await asyncio.sleep(0.4)
        reply = await subscriber.ask({"id": 2, "type": "ping"})
        while reply["type"] != "reply":  # pushes may come first
            reply = await subscriber.line()
        assert reply["id"] == 2
        await silent.aclose()
        await subscriber.aclose()


async def test_a_subscriber_gets_the_snapshot_at_once_then_events_and_snapshots(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c, ControlClient(s.path) as cmd:
        items = c.subscribe()
        first = await anext(items)
        assert first.type == "snapshot" and first.snapshot["phase"] == "idle"
        assert (await cmd.load_profile(FACE.name)).ok
        seen: list[str] = []
        async with asyncio.timeout(2):
            async for item in items:
                if item.type == "event" and item.event["name"] == "state_changed":
                    seen.append(item.event["data"]["after"])
                if item.type == "snapshot" and item.snapshot["phase"] == "ready":
                    break
        assert seen[-1] == "ready"


async def test_a_slow_subscriber_is_dropped_while_a_reader_keeps_receiving(
        tmp_path: Path) -> None:
    async with serve(tmp_path, max_buffered_bytes=16 * 1024) as s:
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(os.fspath(s.path))
        slow.sendall(b'{"v": 1, "id": 1, "type": "subscribe"}\n')  # and never reads
        received = 0
        target = 0
        reached = asyncio.Event()

        async def read(items: AsyncIterator[object]) -> None:
            nonlocal received
            async for _ in items:
                received += 1
                if target and received >= target:
                    reached.set()

        async with ControlClient(s.path) as fast, ControlClient(s.path) as cmd:
            items = fast.subscribe()
            await anext(items)
            reader = asyncio.create_task(read(items))
            assert (await cmd.load_profile(FACE.name)).ok
            assert (await cmd.command("start_session")).ok
            await _phase(cmd, "treating_armed")
            async with asyncio.timeout(10):
                while s.server.dropped == 0:  # each one a state change: a snapshot and an event
                    assert (await cmd.command("pause")).ok
                    assert (await cmd.command("resume")).ok
            assert s.server.subscriber_count == 1
            target = received + 20  # five pause/resume pairs: 20 pushes
            for _ in range(5):
                assert (await cmd.command("pause")).ok
                assert (await cmd.command("resume")).ok
            await asyncio.wait_for(reached.wait(), 2)
            assert not reader.done()
            reader.cancel()
        slow.setblocking(False)
        try:
            while slow.recv(1 << 20):
                pass
        except BlockingIOError:
            pytest.fail("the slow subscriber's connection is still open")
        except ConnectionResetError:
            pass
        finally:
            slow.close()


async def test_estop_is_answered_only_after_the_close_went_out(tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c:
        assert (await c.load_profile(FACE.name)).ok
        assert (await c.command("start_session")).ok
        await _phase(c, "treating_armed")
        closes_before = len(s.unit.told("close"))
        sent = time.monotonic()
        acknowledged = await c.estop("test")
        answered = time.monotonic()
        assert acknowledged is True
        closes = [t for t in s.unit.told("close")[closes_before:] if t.at_s >= sent]
        assert closes and closes[0].at_s <= answered
        assert (await c.status())["phase"] == "estop"
        # a refused command says why
        again = await c.command("start_session")
        assert again.ok is False and again.reason


async def test_an_estop_from_a_client_that_hangs_up_at_once_still_latches(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c, ControlClient(s.path) as sub:
        items = sub.subscribe()
        await anext(items)
        assert (await c.load_profile(FACE.name)).ok
        assert (await c.command("start_session")).ok
        await _phase(c, "treating_armed")
        raw = await Raw.open(s.path)
        await raw.send(b'{"v": 1, "id": 1, "type": "estop", "source": "gone"}\n')
        await raw.aclose()
        await _phase(c, "estop")
        events: list[str] = []
        async with asyncio.timeout(2):
            async for item in items:
                if item.type == "event":
                    events.append(item.event["name"])
                    if item.event["name"] == "session_ended":
                        assert item.event["data"]["outcome"] == "estop"
                        assert item.event["data"]["record"]["profile_sha256"] == FACE.sha256
                        break
        assert "session_started" in events and "alarm_raised" in events


async def test_estop_is_answered_while_a_command_of_the_same_connection_waits(
        tmp_path: Path) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c:
        gate = asyncio.Event()
        real = s.controller.submit

        async def slow_submit(command: object) -> object:
            await gate.wait()
            return await real(command)  # type: ignore[arg-type]

        s.controller.submit = slow_submit  # type: ignore[assignment, method-assign]
        waiting = asyncio.create_task(c.command("pause_audio"))
        await asyncio.sleep(0.05)
        assert await c.estop("test") is True
        assert not waiting.done()
        gate.set()
        assert (await waiting).ok


async def test_a_failing_handler_answers_an_error_and_the_server_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(tmp_path) as s, ControlClient(s.path) as c:
        real = s.controller.snapshot
        calls = {"n": 0}

        def broken() -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("bug")
            return real()

        monkeypatch.setattr(s.controller, "snapshot", broken)
        with pytest.raises(RequestRejected, match="internal error"):
            await c.status()
        assert (await c.status())["phase"] == "idle"
        assert not s.task.done()


async def test_one_encoding_per_published_item_shared_by_all_subscribers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(tmp_path) as s:
        subs = [await Raw.open(s.path) for _ in range(3)]
        for sub in subs:
            assert (await sub.ask({"id": 1, "type": "subscribe"}))["ok"]
            assert (await sub.line())["type"] == "snapshot"
        encoded: list[object] = []
        real = socket_server.jsonable
        published: list[object] = []

        def counting(value: object) -> object:
            encoded.append(value)
            return real(value)

        monkeypatch.setattr(socket_server, "jsonable", counting)
        s.controller.subscribe(published.append)
        async with ControlClient(s.path) as cmd:
            assert (await cmd.load_profile(FACE.name)).ok
        lines = [[await sub.line() for _ in range(len(published))] for sub in subs]
        assert published and len(encoded) == len(published)
        assert lines[0] == lines[1] == lines[2]
        for sub in subs:
            await sub.aclose()


async def test_the_socket_file_mode_stale_and_live_sockets(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fspath(path))
    stale.close()  # a socket file nobody listens on
    old_umask = os.umask(0o077)
    try:
        async with serve(tmp_path, mode=0o660) as s:
            st = path.lstat()
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
            second = ControlServer(s.controller, path)
            with pytest.raises(SocketInUse, match="another control process"):
                second.bind()
            assert path.exists()
    finally:
        os.umask(old_umask)
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(SocketInUse, match="not a socket"):
        ControlServer(None, path).bind()  # type: ignore[arg-type]
    assert path.read_text() == "not a socket"


async def test_requests_in_flight_are_bounded_per_connection(tmp_path: Path) -> None:
    async with serve(tmp_path, max_in_flight=2) as s:
        gate = asyncio.Event()

        async def held(command: object) -> object:
            await gate.wait()
            from cryoctl.core.staff import Reply
            return Reply(True)

        s.controller.submit = held  # type: ignore[assignment, method-assign]
        raw = await Raw.open(s.path)
        for rid in (1, 2, 3):
            await raw.send(json.dumps({"v": 1, "id": rid, "type": "command",
                                       "command": "pause_audio"}).encode() + b"\n")
        busy = await raw.line()
        assert busy["id"] == 3 and busy["type"] == "error" and "busy" in busy["message"]
        gate.set()
        assert {(await raw.line())["id"], (await raw.line())["id"]} == {1, 2}
        await raw.aclose()


async def test_stats_count_the_socket_messages_by_type(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        raw = await Raw.open(s.path)
        await raw.send(b"garbage\n")
        assert (await raw.line())["type"] == "error"
        assert (await raw.ask({"id": 1, "type": "status"}))["type"] == "status"
        reply = await raw.ask({"id": 2, "type": "stats"})
        await raw.aclose()
    assert reply["type"] == "stats" and reply["id"] == 2
    stats = reply["stats"]
    assert stats["socket_received"] == {"malformed": 1, "status": 1, "stats": 1}
    assert stats["socket_sent"] == {"error": 1, "status": 1}  # this reply not yet counted
    assert stats["counters"]["cycles"] >= 0
    assert set(stats) >= {"period_s", "jitter_s", "poll_s", "alarms_raised", "sessions"}
