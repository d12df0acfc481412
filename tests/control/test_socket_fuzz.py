"""Random messages at a running control socket: answers only, the project's own errors only.

The real socket server and controller (on the fake unit) run on their own loop in a
thread; the test writes random lines over a real Unix socket and reads each answer.
Every line gets one answer that decodes as a protocol message; a refusal is an
``error`` reply with a message, never an ``internal error`` (a handler's exception);
the connection stays usable, and the server answers a ping and a status at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import sizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from socket_rig import serve

from cryoctl.protocol import COMMANDS, decode_message

pytestmark = pytest.mark.timeout(120)

_TYPES = ["status", "subscribe", "ping", "command", "load_profile", "estop", "reply", "error",
          "snapshot", "nonsense", ""]
_KEYS = ["v", "id", "type", "command", "up_to_seq", "name", "sha256", "source", "extra"]
_PUSHES = ("snapshot", "event")

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from([*_TYPES, *COMMANDS, "n2-face-cryomassage", "0" * 64, "a" * 65]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-shaped requests with a few fields wrong, missing or extra."""
    message: dict[str, Any] = {"v": draw(st.sampled_from([1, 1, 1, 0, 2, "1", None])),
                               "id": draw(st.one_of(st.integers(0, 2**31), json_scalars)),
                               "type": draw(st.sampled_from(_TYPES))}
    if message["type"] == "command" or draw(st.booleans()):
        message["command"] = draw(st.one_of(st.sampled_from(list(COMMANDS)), json_scalars))
    extra = draw(st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=3))
    message.update(extra)
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=2)):
        message.pop(key, None)
    return message


lines = st.one_of(
    requests().map(lambda m: json.dumps(m).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=200).map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass")),
)


@contextlib.contextmanager
def running_server(folder: Path) -> Iterator[Path]:
    """The control socket served on its own loop in a thread, until the block ends."""
    ready = threading.Event()
    path: list[Path] = []
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with serve(folder) as served:
            path.append(served.path)
            ready.set()
            await stop.wait()
            assert not served.task.done(), "the control loop ended"

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="control-socket", daemon=True)
    thread.start()
    assert ready.wait(10) and path, failure
    try:
        yield path[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive()
        assert not failure, failure


class Line:
    """A blocking JSON-lines client: one line out, the next answer (pushes skipped) back."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.buffer = b""

    def ask(self, line: bytes) -> dict[str, Any]:
        self.sock.sendall(line + b"\n")
        while True:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                assert chunk, "the server closed the connection"
                self.buffer += chunk
            answer, self.buffer = self.buffer.split(b"\n", 1)
            decode_message(answer)  # every answer is a valid protocol message
            message: dict[str, Any] = json.loads(answer)
            if message["type"] not in _PUSHES:
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("examples", sizes(300))
def test_random_messages_get_answers_and_the_server_keeps_serving(
        examples: int, tmp_path: Path) -> None:
    with running_server(tmp_path) as path:
        client = Line(path)
        kinds: dict[str, int] = {}

        @settings(max_examples=examples, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(lines)
        def one(line: bytes) -> None:
            answer = client.ask(line)
            kinds[answer["type"]] = kinds.get(answer["type"], 0) + 1
            if answer["type"] == "error":
                assert answer["message"], answer
                assert not answer["message"].startswith("internal error"), (line, answer)

        try:
            one()
            # Still answering, on the same connection and on a new one.
            assert client.ask(b'{"v": 1, "id": 1, "type": "ping"}')["type"] == "reply"
            fresh = Line(path)
            status = fresh.ask(b'{"v": 1, "id": 2, "type": "status"}')
            assert status["type"] == "status" and status["snapshot"]["phase"]
            fresh.close()
        finally:
            client.close()
        assert kinds.get("error", 0) > 0 and len(kinds) > 1, kinds
