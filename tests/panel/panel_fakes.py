"""Fakes for the panel tests: the control link, a clock, a WebSocket client, cheap PINs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from cryoctl.pins import PinHash

__all__ = ["FakeClock", "FakeLink", "WsClient", "app_routes", "cheap_pin_hash", "make_course",
           "make_session", "make_snapshot"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(server: Any) -> Iterator[None]:
    """Run a uvicorn server (``make_server``) in a thread while the block runs; stop it."""
    thread = threading.Thread(target=server.run, name="panel-server", daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the panel server did not start"
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()


def app_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route an app serves, also those of routers FastAPI keeps included lazily."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from app_routes(inner.routes)
        else:
            yield route


def cheap_pin_hash(pin: str) -> str:
    """A real ``scrypt$...`` hash at the lowest cost a config accepts, so logins are fast."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    return PinHash(1024, 8, 1, salt, digest).encode()


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_snapshot(seq: int = 1, *, phase: str = "idle",
                  alarms: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A snapshot dict with every field of cryoctl.core.snapshot.Snapshot."""
    return {
        "version": 1,
        "seq": seq,
        "at_s": 12.5 + seq,
        "phase": phase,
        "healthy": True,
        "close_pending": False,
        "identity": {"model": "N2-SIM", "serial": "0001", "firmware": "1.0",
                     "url": "n2+socket://127.0.0.1:5021"},
        "profile": None,
        "session": None,
        "unit": None,
        "alarms": {"seq": seq, "alarms": alarms or [], "audio_active": bool(alarms),
                   "audio_paused_until_s": None},
        "refusals": [],
    }


SESSION_ID = "3f1c6a9e-0000-4000-8000-000000000001"


def make_session(*, outcome: str = "completed", reason: str = "staff",
                 alarms: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A session as the control process's ``session`` request answers it."""
    return {
        "id": SESSION_ID,
        "profile": {"name": "n2-face-cryomassage", "version": 1, "sha256": "ab" * 32},
        "device_kind": "n2", "patient_ref": "P-0042",
        "started_utc": "2026-03-02T09:00:00.000Z", "ended_utc": "2026-03-02T09:06:12.500Z",
        "outcome": outcome, "reason": reason, "started_by_role": "staff", "spray_s": 7.25,
        "unit": {"model": "N2-CRYO", "serial": "SN-0001", "firmware": "2.1"},
        "checklist": {"No cold urticaria (cold test done and negative)": True},
        "cold_test_done": True, "override": None, "duration_s": 372.5, "treated_s": 360.0,
        "started_by_token": "0123456789abcdef",
        "zones": [
            {"index": 0, "name": "forehead", "spray_s": 4.75, "passes": 2, "sprays": 2,
             "ln2_g": 3.8, "sites": [{"index": 0, "spray_s": 4.75, "sprays": 2}]},
            {"index": 1, "name": "cheek-left", "spray_s": 2.5, "passes": 1, "sprays": 1,
             "ln2_g": 2.0, "sites": [{"index": 0, "spray_s": 2.5, "sprays": 1}]},
        ],
        "sprays": [
            {"zone": 0, "site": 0, "start_s": 10.0, "end_s": 12.75, "ended_by": "release"},
            {"zone": 0, "site": 0, "start_s": 45.0, "end_s": 47.0, "ended_by": "dwell limit "
             "reached"},
            {"zone": 1, "site": 0, "start_s": 90.0, "end_s": 92.5, "ended_by": "release"},
        ],
        "alarms": alarms or [],
        "totals": {"spray_s": 7.25, "ln2_g": 5.8},
    }


def make_course() -> dict[str, Any]:
    return {"patient_ref": "P-0042", "profile": "n2-face-cryomassage", "sessions_done": 3,
            "sessions_left": 12, "last_session_utc": "2026-03-02T09:00:00Z",
            "next_allowed_utc": "2026-03-04T09:00:00Z",
            "refusal": "this patient had n2-face-cryomassage on 2026-03-02 09:00 UTC; ...",
            "overridable": True}


class FakeLink:
    """A control process that answers as told and records every call, in order."""

    def __init__(self) -> None:
        self.connected = True
        #: Raise ConnectionError from every call (the control process is gone).
        self.down = False
        self.snapshot: dict[str, Any] = make_snapshot()
        #: Answers by command name (or "load_profile"); absent means (True, "").
        self.replies: dict[str, tuple[bool, str]] = {}
        self.estop_acknowledged = True
        #: Raised from status() when set (a bug in a route's callee).
        self.status_error: Exception | None = None
        self.calls: list[tuple[Any, ...]] = []
        #: Whether a refused start_session says an override would lift it.
        self.start_overridable = False
        #: What records() answers, by kind (absent: data None, "not found").
        self.records_data: dict[str, dict[str, Any]] = {
            "sessions": {"sessions": []}, "session": make_session(), "course": make_course()}
        self.records_refused: dict[str, str] = {}
        self.audits: list[tuple[str, str | None, str | None, dict[str, Any]]] = []
        self._pushes: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.subscriptions = 0
        #: Pushes the subscriber has handled (it asked for the next one after each).
        self.handled = 0
        self._progress = asyncio.Event()

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("control socket refused the connection")

    async def status(self) -> dict[str, Any]:
        self.calls.append(("status",))
        self._check()
        if self.status_error is not None:
            raise self.status_error
        return self.snapshot

    async def command(self, name: str, *, up_to_seq: int | None = None,
                      role: str | None = None, token_id: str | None = None
                      ) -> tuple[bool, str]:
        self.calls.append(("command", name, up_to_seq))
        self._check()
        return self.replies.get(name, (True, ""))

    async def load_profile(self, name: str, sha256: str | None = None) -> tuple[bool, str]:
        self.calls.append(("load_profile", name, sha256))
        self._check()
        return self.replies.get("load_profile", (True, ""))

    async def estop(self, source: str) -> bool:
        self.calls.append(("estop", source))
        self._check()
        return self.estop_acknowledged

    async def start_session(self, **fields: Any) -> dict[str, Any]:
        self.calls.append(("start_session", fields))
        self._check()
        ok, reason = self.replies.get("start_session", (True, ""))
        return {"ok": ok, "reason": reason, "overridable": self.start_overridable,
                "session_id": "3f1c6a9e-0000-4000-8000-000000000001" if ok else None}

    async def records(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.calls.append(("records", kind, fields))
        self._check()
        if kind in self.records_refused:
            return {"ok": False, "reason": self.records_refused[kind], "data": None}
        return {"ok": True, "reason": "", "data": self.records_data.get(kind)}

    async def audit(self, action: str, *, role: str | None, token_id: str | None,
                    detail: dict[str, Any]) -> bool:
        # Kept apart from ``calls``: a login's audit row is not a command.
        self.audits.append((action, role, token_id, detail))
        self._check()
        return True

    def push(self, message: dict[str, Any]) -> None:
        """Deliver a push to the subscriber (from the test's event loop)."""
        self._pushes.put_nowait(message)

    def end_subscription(self) -> None:
        self._pushes.put_nowait(None)

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        self.subscriptions += 1
        self._progress.set()
        self._check()
        while True:
            message = await self._pushes.get()
            if message is None:
                return
            yield message
            self.handled += 1
            self._progress.set()

    async def until(self, *, handled: int = 0, subscriptions: int = 0,
                    timeout_s: float = 2.0) -> None:
        """Wait until the subscriber handled that many pushes and subscribed that often."""
        async with asyncio.timeout(timeout_s):
            while self.handled < handled or self.subscriptions < subscriptions:
                self._progress.clear()
                await self._progress.wait()

    def names(self) -> list[str]:
        """The calls as short names: ``command:pause``, ``estop``, ``load_profile``."""
        return [f"command:{c[1]}" if c[0] == "command" else c[0] for c in self.calls]

    def start_fields(self) -> dict[str, Any]:
        """What the last start_session carried."""
        fields: dict[str, Any] = next(c[1] for c in reversed(self.calls)
                                      if c[0] == "start_session")
        return fields


class WsClient:
    """A WebSocket client speaking ASGI to the app directly (no server, no thread).

    ``slow=True`` makes it a client that never reads: every data frame the app
    sends blocks forever, as a full TCP buffer would; accept and close go through.
    """

    def __init__(self, app: Any, path: str = "/api/v1/events", *, host: str = "testserver",
                 headers: list[tuple[str, str]] | None = None, slow: bool = False,
                 denial_extension: bool = True) -> None:
        self.app = app
        self.slow = slow
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sends_blocked = 0
        #: Set when a slow client's first send blocks.
        self.blocked = asyncio.Event()
        self._never = asyncio.Event()
        raw = [(b"host", host.encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers or []]
        self.scope: dict[str, Any] = {
            "type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "scheme": "ws", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": raw, "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80), "subprotocols": [],
            "extensions": {"websocket.http.response": {}} if denial_extension else {},
        }
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if self.slow and message["type"] == "websocket.send":
            self.sends_blocked += 1
            self.blocked.set()
            await self._never.wait()
        await self.from_app.put(message)

    async def connect(self) -> dict[str, Any]:
        """The app's first answer: ``websocket.accept``, a close, or a denial response."""
        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, self._send))
        await self.to_app.put({"type": "websocket.connect"})
        return await self.next_message()

    async def next_message(self, timeout_s: float = 2.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            return await self.from_app.get()

    async def receive_json(self, timeout_s: float = 2.0) -> dict[str, Any]:
        message = await self.next_message(timeout_s)
        assert message["type"] == "websocket.send", message
        decoded: dict[str, Any] = json.loads(message["text"])
        return decoded

    async def disconnect(self) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        await self.finished()

    async def finished(self, timeout_s: float = 2.0) -> None:
        assert self.task is not None
        async with asyncio.timeout(timeout_s):
            await self.task
