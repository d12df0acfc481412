"""A client of the control socket, for the CLI and the panel server.

::

    async with ControlClient("/run/cryoctl/control.sock") as c:
        snapshot = await c.status()
        reply = await c.command("pause")          # Reply(ok, reason)
        acknowledged = await c.estop("panel")
        async for item in c.subscribe():          # SnapshotMessage | EventMessage
            ...

Requests carry ids and replies are matched to them, so one client may have several
requests on their way at once (the control process answers an e-stop ahead of a
command still waiting for the loop). Every request has a deadline (keyword-only
``timeout_s``, finite by default): a missing answer is
:class:`~cryoctl.errors.ControlTimeout`; no control process, no permission, or a
connection that broke is :class:`~cryoctl.errors.ControlUnavailable`; an error
answer is :class:`~cryoctl.errors.RequestRejected`. Every line is validated by the
models of :mod:`cryoctl.protocol` on the way out and on the way in.

:func:`follow` is the subscription that keeps reconnecting (every 0.25 s, the way
Moonraker keeps reaching Klippy) and yields :class:`Disconnected` once per outage,
so a screen can say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import structlog
from pydantic import BaseModel, TypeAdapter

from cryoctl.errors import ControlTimeout, ControlUnavailable, RequestRejected
from cryoctl.protocol import (
    MAX_LINE_BYTES,
    AuditRequest,
    CommandRequest,
    ControlStats,
    ErrorReply,
    EstopReply,
    EstopRequest,
    EventMessage,
    LoadProfileRequest,
    Message,
    PingRequest,
    RecordsReply,
    Reply,
    Request,
    SessionStartReply,
    SnapshotMessage,
    StartSessionRequest,
    StatsReply,
    StatsRequest,
    StatusReply,
    StatusRequest,
    SubscribeRequest,
    decode_message,
    encode,
)

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "DEFAULT_TIMEOUT_S",
    "RETRY_S",
    "ControlClient",
    "Disconnected",
    "Push",
    "follow",
]

_log = structlog.get_logger("cryoctl.client")

#: Where the control process listens on a device (``control.socket_path``).
DEFAULT_SOCKET_PATH: Final = Path("/run/cryoctl/control.sock")
#: Deadline of a request (and of connecting) unless told otherwise.
DEFAULT_TIMEOUT_S: Final = 5.0
#: How often :func:`follow` tries again while the control process is away.
RETRY_S: Final = 0.25
#: Pushes held for a subscriber that has not taken them; beyond, reading waits.
_PUSH_QUEUE: Final = 256

Push = SnapshotMessage | EventMessage
_R = TypeVar("_R", bound=BaseModel)


_REQUESTS: TypeAdapter[Request] = TypeAdapter(Request)


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The subscription lost the control process (or never reached it); retrying."""

    reason: str


class _Closed:
    """The connection ended; what the subscriber's queue ends with."""


_CLOSED: Final = _Closed()


class ControlClient:
    """One connection to the control socket. Use ``async with``, or connect/aclose."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_SOCKET_PATH, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not 0 < timeout_s < float("inf"):
            raise ValueError("timeout_s must be finite and > 0")
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._pushes: asyncio.Queue[Push | _Closed] | None = None
        self._next_id = 0
        #: Why the connection ended, once it has.
        self.closed_reason: str | None = None

    # -- the connection ---------------------------------------------------------------

    async def connect(self, *, timeout_s: float | None = None) -> None:
        where = self.path
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                reader, writer = await asyncio.open_unix_connection(where, limit=MAX_LINE_BYTES)
        except FileNotFoundError:
            raise ControlUnavailable(f"{where}: no control process (no socket there)") from None
        except ConnectionRefusedError:
            raise ControlUnavailable(f"{where}: no control process listening "
                                     "(a stale socket file?)") from None
        except PermissionError:
            raise ControlUnavailable(f"{where}: permission denied (the socket is for root, "
                                     "the service user and its allowed groups)") from None
        except TimeoutError:
            raise ControlTimeout(f"{where}: connecting took longer than "
                                 f"{timeout_s or self.timeout_s:g} s") from None
        except OSError as exc:
            raise ControlUnavailable(f"{where}: {exc.strerror or exc}") from None
        self._reader, self._writer = reader, writer
        self.closed_reason = None
        self._reading = asyncio.get_running_loop().create_task(self._read_loop())

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
            self._reading = None
        self._end("closed by the client")
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> ControlClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------

    async def ping(self, *, timeout_s: float | None = None) -> None:
        await self._request(PingRequest(id=self._id(), type="ping"), Reply, timeout_s)

    async def status(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The current snapshot, as plain JSON (see :class:`cryoctl.core.snapshot.Snapshot`)."""
        reply = await self._request(StatusRequest(id=self._id(), type="status"), StatusReply,
                                    timeout_s)
        return reply.snapshot

    async def stats(self, *, timeout_s: float | None = None) -> ControlStats:
        """The control loop's numbers since it started (for ``GET /metrics``)."""
        reply = await self._request(StatsRequest(id=self._id(), type="stats"), StatsReply,
                                    timeout_s)
        return reply.stats

    async def command(self, name: str, *, up_to_seq: int | None = None,
                      role: str | None = None, token_id: str | None = None,
                      timeout_s: float | None = None) -> Reply:
        """A staff command by its name (:data:`cryoctl.protocol.COMMANDS`); the loop's answer.

        ``role`` and ``token_id`` name who asked, for the audit trail."""
        request = CommandRequest.model_validate(
            {"id": self._id(), "type": "command", "command": name, "up_to_seq": up_to_seq,
             "role": role, "token_id": token_id})
        return await self._request(request, Reply, timeout_s)

    async def load_profile(self, name: str, *, sha256: str | None = None,
                           timeout_s: float | None = None) -> Reply:
        request = LoadProfileRequest(id=self._id(), type="load_profile", name=name,
                                     sha256=sha256)
        return await self._request(request, Reply, timeout_s)

    async def estop(self, source: str = "socket", *, timeout_s: float | None = None) -> bool:
        """E-stop; returns once the close went out, with whether the unit acknowledged it."""
        request = EstopRequest(id=self._id(), type="estop", source=source)
        reply = await self._request(request, EstopReply, timeout_s)
        return reply.acknowledged

    async def start_session(self, *, patient_ref: str, role: str = "staff",
                            token_id: str | None = None,
                            checklist: dict[str, bool] | None = None,
                            cold_test_done: bool = False, override_reason: str | None = None,
                            profile_sha256: str | None = None,
                            timeout_s: float | None = None) -> SessionStartReply:
        """Start a session on the loaded profile, under the clinic's rules."""
        request = StartSessionRequest.model_validate({
            "id": self._id(), "type": "start_session", "patient_ref": patient_ref,
            "role": role, "token_id": token_id, "checklist": checklist or {},
            "cold_test_done": cold_test_done, "profile_sha256": profile_sha256,
            "override": None if override_reason is None else {"reason": override_reason}})
        return await self._request(request, SessionStartReply, timeout_s)

    async def records(self, kind: str, *, timeout_s: float | None = None,
                      **fields: Any) -> RecordsReply:
        """A records query: ``sessions``, ``session`` or ``course`` (fields as the request's)."""
        request: Request = _REQUESTS.validate_python(
            {"id": self._id(), "type": kind, **fields})
        return await self._request(request, RecordsReply, timeout_s)

    async def audit(self, action: str, *, role: str | None = None, token_id: str | None = None,
                    detail: dict[str, Any] | None = None,
                    timeout_s: float | None = None) -> Reply:
        """Add a row to the audit trail (what the panel server did)."""
        request = AuditRequest.model_validate({
            "id": self._id(), "type": "audit", "action": action, "role": role,
            "token_id": token_id, "detail": detail or {}})
        return await self._request(request, Reply, timeout_s)

    async def subscribe(self, *, timeout_s: float | None = None) -> AsyncIterator[Push]:
        """Every snapshot and event from now on (the current snapshot first).

        Ends with ControlUnavailable when the connection does. One per client.
        """
        if self._pushes is not None:
            raise RuntimeError("this client is subscribed already")
        self._pushes = asyncio.Queue(_PUSH_QUEUE)
        await self._request(SubscribeRequest(id=self._id(), type="subscribe"), Reply, timeout_s)
        while True:
            if self._pushes.empty() and self.closed_reason is not None:
                raise ControlUnavailable(f"{self.path}: {self.closed_reason}")
            item = await self._pushes.get()
            if isinstance(item, _Closed):
                raise ControlUnavailable(f"{self.path}: {self.closed_reason or 'closed'}")
            yield item

    # -- inside -----------------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _request(self, request: Request, answer: type[_R],
                       timeout_s: float | None) -> _R:
        writer = self._writer
        if writer is None or self.closed_reason is not None:
            raise ControlUnavailable(f"{self.path}: {self.closed_reason or 'not connected'}")
        rid, kind = request.id, request.type
        deadline_s = timeout_s if timeout_s is not None else self.timeout_s
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            async with asyncio.timeout(deadline_s):
                writer.write(encode(request))
                await writer.drain()
                message = await fut
        except TimeoutError:
            raise ControlTimeout(f"{self.path}: no answer to {kind} within "
                                 f"{deadline_s:g} s") from None
        except (ConnectionError, OSError) as exc:
            if isinstance(exc, ControlUnavailable):
                raise
            raise ControlUnavailable(f"{self.path}: {exc.strerror or exc}") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(message, ErrorReply):
            raise RequestRejected(f"{kind} refused: {message.message}")
        if not isinstance(message, answer):
            raise RequestRejected(f"{kind}: unexpected answer {message.type!r}")
        return message

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        reason = "the control process closed the connection"
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    reason = f"a line longer than {MAX_LINE_BYTES} bytes came in"
                    break
                try:
                    message = decode_message(line)
                except ValueError as exc:
                    _log.warning("control socket line not understood", error=str(exc))
                    continue
                await self._take(message)
                if isinstance(message, ErrorReply) and message.id is None:
                    reason = message.message
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost ({exc.strerror or exc})"
        finally:
            self._end(reason)

    async def _take(self, message: Message) -> None:
        if isinstance(message, SnapshotMessage | EventMessage):
            if self._pushes is not None:
                await self._pushes.put(message)  # a slow consumer holds reading back
            return
        rid = message.id
        fut = self._pending.get(rid) if rid is not None else None
        if fut is not None and not fut.done():
            fut.set_result(message)
        elif rid is not None:
            _log.debug("control socket answer for no request", id=rid, type=message.type)

    def _end(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ControlUnavailable(f"{self.path}: {self.closed_reason}"))
        if self._pushes is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._pushes.put_nowait(_CLOSED)


async def follow(path: str | os.PathLike[str] = DEFAULT_SOCKET_PATH, *,
                 retry_s: float = RETRY_S,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> AsyncIterator[Push | Disconnected]:
    """Subscribe, and keep subscribing: pushes, and :class:`Disconnected` once per outage.

    Tries again every ``retry_s`` while the control process is away; after each
    reconnection the current snapshot comes first. Close it with
    ``contextlib.aclosing`` (or by breaking out of ``async for`` inside one).
    """
    connected: bool | None = None  # None: not tried yet
    while True:
        reason = ""
        try:
            async with ControlClient(path, timeout_s=timeout_s) as client:
                async for item in client.subscribe():
                    connected = True
                    yield item
        except ControlUnavailable as exc:
            reason = str(exc)
        except RequestRejected as exc:
            reason = str(exc)
        if connected is not False:
            connected = False
            yield Disconnected(reason or f"{path}: closed")
        await asyncio.sleep(retry_s)
