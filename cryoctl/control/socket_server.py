"""The control socket: JSON lines on a Unix socket, served on the controller's own loop.

What it holds to (messages in :mod:`cryoctl.protocol`):

- **Only trusted peers.** Each connection's credentials are read off the socket
  (``SO_PEERCRED``): root, the service's own user and members of the allowed groups
  (primary group, or listed in ``/etc/group``) are served; anyone else gets one
  error line, the connection is closed and the refusal is logged. The socket file
  itself has the configured mode (0660): it is bound with the mode already on the
  socket's inode, so it is never more open than that, not even for an instant.
- **Nothing a client sends reaches the loop as an exception.** Every line is decoded
  by :func:`~cryoctl.protocol.decode_request`; a malformed or unknown one gets an
  :class:`~cryoctl.protocol.ErrorReply` (with the request's id when it can be found),
  a line over :data:`~cryoctl.protocol.MAX_LINE_BYTES` an error and the end of the
  connection, and any failure in a handler an error reply and a log entry.
- **E-stop first.** An ``estop`` is always accepted, never waits behind another
  request of its connection, and is answered only after the close went out to the
  unit (:meth:`~cryoctl.control.controller.Controller.request_estop`).
- **No client can hold the loop.** Nothing is ever awaited on a client's behalf: a
  reply or push is handed to the connection's transport, whose buffer is the
  outgoing queue, bounded by ``max_buffered_bytes``; a client that lets it fill (a
  subscriber that stopped reading) is dropped, not waited for. A client that says
  nothing for ``idle_timeout_s`` is closed; subscribers are exempt.
- **One encoding per published item.** The server listens to the controller once;
  each snapshot or event is turned into its JSON line once, after the cycle that
  published it (``call_soon``, so a cycle's own I/O never waits for it), and the same
  bytes go to every subscriber.

What each request does (the e-stop, commands, profile loads, the records' requests)
is :mod:`cryoctl.control.answers`; credentials are judged by :mod:`cryoctl.control.peer`.
Commands, profile loads and the records' requests run as tasks of their connection
(at most ``max_in_flight`` at once), so replies may come in another order than their
requests: clients match them by id.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections import Counter
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path
from typing import Any, Final

import structlog
from pydantic import BaseModel

from cryoctl.control.answers import RECORDS_REQUESTS, Answers
from cryoctl.control.clinic import Clinic
from cryoctl.control.controller import Controller
from cryoctl.control.peer import PeerCredentials, find_group, peer_allowed, peer_credentials
from cryoctl.core.snapshot import ControlEvent, Snapshot
from cryoctl.errors import SocketInUse
from cryoctl.profile.signing import SignaturePolicy
from cryoctl.protocol import (
    MAX_LINE_BYTES,
    CommandRequest,
    ErrorReply,
    EstopRequest,
    EventMessage,
    LoadProfileRequest,
    PingRequest,
    Reply,
    Request,
    SnapshotMessage,
    StatsReply,
    StatsRequest,
    StatusReply,
    StatusRequest,
    SubscribeRequest,
    decode_request,
    encode,
    jsonable,
    request_id,
)

__all__ = ["IDLE_TIMEOUT_S", "MAX_BUFFERED_BYTES", "MAX_IN_FLIGHT", "ControlServer"]

_log = structlog.get_logger("cryoctl.control.socket_server")

#: A client that sends no complete request for this long is closed (subscribers are exempt).
IDLE_TIMEOUT_S: Final = 30.0
#: Replies and pushes a client may leave unread before it is dropped (beyond the kernel's).
MAX_BUFFERED_BYTES: Final = 256 * 1024
#: Commands and profile loads one connection may have waiting for the loop.
MAX_IN_FLIGHT: Final = 8
#: How long closing waits for requests in flight before it cancels them.
_CLOSE_WAIT_S: Final = 1.0
#: A closing connection whose last line is still unread after this long is aborted.
_FINISH_GRACE_S: Final = 5.0


class _Connection:
    """One client: its reader loop, its requests in flight, and its way out."""

    def __init__(
        self,
        server: ControlServer,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: PeerCredentials | None,
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self.transport = writer.transport
        self.log = _log.bind(client=number, pid=peer.pid if peer else None,
                             uid=peer.uid if peer else None)
        self.subscribed = False
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._commands_in_flight = 0

    # -- out --------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Hand a line to the transport; drop the client if its unread output is too much."""
        if self.closed:
            return
        try:
            self._writer.write(data)
        except Exception as exc:  # the transport is already failing: the client is gone
            self.drop(f"write failed: {exc}")
            return
        if self.transport.get_write_buffer_size() > self._server.max_buffered_bytes:
            self.drop("the client stopped reading (output queue full)")

    def reply(self, message: BaseModel) -> None:
        self._server.sent[str(getattr(message, "type", type(message).__name__))] += 1
        self.send(encode(message))

    def drop(self, reason: str, *, expected: bool = False) -> None:
        """Close at once, discarding what is unsent (``expected``: at shut-down, logged at info)."""
        if self.closed:
            return
        self.closed = True
        (self.log.info if expected else self.log.warning)("control client dropped", reason=reason)
        self.transport.abort()

    def finish(self, message: BaseModel | None = None) -> None:
        """Send a last line (if any), then close once it is out (or after a grace time)."""
        if self.closed:
            return
        if message is not None:
            self.reply(message)
            if self.closed:
                return
        self.closed = True
        self.transport.close()
        # A peer that never reads would keep the close (and its file) waiting forever.
        asyncio.get_running_loop().call_later(_FINISH_GRACE_S, self.transport.abort)

    # -- in ---------------------------------------------------------------------------

    async def serve(self) -> None:
        idle_s = self._server.idle_timeout_s
        while not self.closed:
            try:
                async with asyncio.timeout(None if self.subscribed else idle_s):
                    line = await self._reader.readuntil(b"\n")
            except TimeoutError:
                self.log.info("control client idle; closing", idle_s=idle_s)
                self.finish(ErrorReply(message=f"no request for {idle_s:g} s; closing"))
                return
            except asyncio.LimitOverrunError:
                self.log.warning("control client line too long; closing")
                self.finish(ErrorReply(message=f"line longer than {MAX_LINE_BYTES} bytes; "
                                               "closing"))
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the client went away (a partial last line is not a request)
            self._handle(line)

    def _handle(self, line: bytes) -> None:
        received = self._server.received
        try:
            request = decode_request(line)
        except ValueError as exc:
            received["malformed"] += 1
            self.log.info("control request refused", error=str(exc))
            self.reply(ErrorReply(id=request_id(line), message=str(exc)))
            return
        received[request.type] += 1
        # Polls (status, stats, ping) at debug: the panel asks for them often.
        poll = isinstance(request, StatusRequest | StatsRequest | PingRequest)
        (self.log.debug if poll else self.log.info)(
            "control request", type=request.type, id=request.id,
            command=getattr(request, "command", None))
        try:
            self._dispatch(request)
        except Exception as exc:  # a bug here must not end the connection or the loop
            self.log.exception("control request failed", type=request.type)
            self.reply(ErrorReply(id=request.id, message=f"internal error: {type(exc).__name__}"))

    def _dispatch(self, request: Request) -> None:
        controller = self._server.controller
        answers = self._server.answers
        if isinstance(request, StatusRequest):
            self.reply(StatusReply(id=request.id, snapshot=jsonable(controller.snapshot())))
        elif isinstance(request, PingRequest):
            self.reply(Reply(id=request.id, ok=True))
        elif isinstance(request, StatsRequest):
            self.reply(StatsReply(id=request.id, stats=controller.stats_report()))
        elif isinstance(request, SubscribeRequest):
            self.reply(Reply(id=request.id, ok=True))
            self.reply(SnapshotMessage(snapshot=jsonable(controller.snapshot())))
            if not self.subscribed:
                self.subscribed = True
                self._server.add_subscriber(self)
        elif isinstance(request, EstopRequest):
            self._spawn(request.id, answers.estop(request, self.log))
        elif self._commands_in_flight >= self._server.max_in_flight:
            self.reply(ErrorReply(id=request.id, message=f"busy: {self._commands_in_flight} "
                                  "requests of this connection are waiting; try again"))
        elif isinstance(request, CommandRequest):
            self._spawn(request.id, answers.command(request), counted=True)
        elif isinstance(request, LoadProfileRequest):
            self._spawn(request.id, answers.load_profile(request, self.log), counted=True)
        elif isinstance(request, RECORDS_REQUESTS):
            self._spawn(request.id, answers.records(request), counted=True)

    def _spawn(self, rid: int, coro: Coroutine[Any, Any, BaseModel], *,
               counted: bool = False) -> None:
        if counted:
            self._commands_in_flight += 1  # now, not when the task first runs
        task = asyncio.get_running_loop().create_task(self._answer(rid, coro, counted=counted))
        self._tasks.add(task)
        self._server.tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._server.tasks.discard)

    async def _answer(self, rid: int, coro: Coroutine[Any, Any, BaseModel], *,
                      counted: bool) -> None:
        try:
            message = await coro
        except Exception as exc:  # answered, logged, and the loop goes on
            self.log.exception("control request failed", id=rid)
            message = ErrorReply(id=rid, message=f"internal error: {type(exc).__name__}")
        finally:
            if counted:
                self._commands_in_flight -= 1
        self.log.info("control reply", id=rid, type=getattr(message, "type", None),
                      ok=getattr(message, "ok", None), reason=getattr(message, "reason", None),
                      acknowledged=getattr(message, "acknowledged", None))
        self.reply(message)

    async def wait_or_cancel(self, timeout_s: float) -> None:
        """Let requests in flight finish (an e-stop's close above all), then cancel the rest."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()


class ControlServer:
    """Serves one controller on a Unix socket. :meth:`bind`, :meth:`start`, :meth:`close`.

    ``bind`` claims the path (before the unit is touched, so a second control process
    stops there); ``start`` begins serving on the running loop; ``close`` stops
    serving and drops every client; ``remove_socket`` takes the file away.
    """

    def __init__(
        self,
        controller: Controller,
        path: str | os.PathLike[str],
        *,
        mode: int = 0o660,
        allowed_groups: Collection[str] = (),
        profile_dir: Path | None = None,
        clinic: Clinic | None = None,
        signatures: SignaturePolicy | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        if not idle_timeout_s > 0 or max_buffered_bytes < 1 or max_in_flight < 1:
            raise ValueError("idle_timeout_s, max_buffered_bytes and max_in_flight must be > 0")
        self.controller = controller
        #: What each request does; its ``clinic`` is set once the records are open.
        self.answers = Answers(controller, profile_dir=profile_dir, clinic=clinic,
                               signatures=signatures)
        self.path = Path(path)
        self.mode = mode
        self.allowed_groups = tuple(allowed_groups)
        self.idle_timeout_s = idle_timeout_s
        self.max_buffered_bytes = max_buffered_bytes
        self.max_in_flight = max_in_flight
        self.own_uid = os.geteuid()
        self.tasks: set[asyncio.Task[None]] = set()
        self._sock: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._subscribers: list[_Connection] = []
        self._pending: list[tuple[Snapshot | ControlEvent, tuple[_Connection, ...]]] = []
        self._flush_scheduled = False
        self._unsubscribe: Callable[[], None] | None = None
        self._numbers = 0
        #: Counts for diagnostics.
        self.accepted = 0
        self.refused = 0
        self.dropped = 0

    # -- the socket file ----------------------------------------------------------------

    def bind(self) -> None:
        """Claim the path: a stale socket file is removed, a live one is SocketInUse."""
        path = self.path
        try:
            st = path.lstat()
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise SocketInUse(f"{path}: exists and is not a socket; not removing it")
            if self._listening(path):
                raise SocketInUse(f"{path}: another control process is listening there")
            path.unlink()
            _log.info("stale control socket removed", path=str(path))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            # The file takes the socket inode's mode (less the umask) at bind: never
            # more open than ``mode``. The chmod then gives back what the umask took.
            os.fchmod(sock.fileno(), self.mode)
            sock.bind(os.fspath(path))
            os.chmod(path, self.mode)
            st = path.lstat()
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._inode = (st.st_dev, st.st_ino)

    @staticmethod
    def _listening(path: Path) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            probe.settimeout(0.5)
            probe.connect(os.fspath(path))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def remove_socket(self) -> None:
        """Remove the socket file, if it is still the one this server bound."""
        if self._inode is None:
            return
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            return
        finally:
            inode, self._inode = self._inode, None
        if (st.st_dev, st.st_ino) == inode:
            self.path.unlink(missing_ok=True)

    # -- serving ------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on the running loop (binding first, if :meth:`bind` was not called)."""
        if self._sock is None:
            self.bind()
        assert self._sock is not None
        self._unsubscribe = self.controller.subscribe(self._on_published)
        self._server = await asyncio.start_unix_server(
            self._on_client, sock=self._sock, limit=MAX_LINE_BYTES
        )
        _log.info("control socket listening", path=str(self.path), mode=f"{self.mode:#o}",
                  allowed_groups=list(self.allowed_groups))
        for name in self.allowed_groups:
            if find_group(name) is None:
                _log.warning("allowed group does not exist", group=name)

    async def close(self) -> None:
        """Stop accepting, let requests in flight end briefly, drop every client."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._sock = None
        connections = list(self._connections)
        await asyncio.gather(*(c.wait_or_cancel(_CLOSE_WAIT_S) for c in connections))
        for conn in connections:
            conn.drop("the control process is stopping", expected=True)
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=_CLOSE_WAIT_S)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def received(self) -> Counter[str]:
        """Requests received, by type (kept in the controller's stats, for /metrics)."""
        return self.controller.stats.socket_received

    @property
    def sent(self) -> Counter[str]:
        """Replies and pushes sent, by type."""
        return self.controller.stats.socket_sent

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _on_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        self._numbers += 1
        conn: _Connection | None = None
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            sock = writer.get_extra_info("socket")
            peer = peer_credentials(sock) if sock is not None else None
            conn = _Connection(self, self._numbers, reader, writer, peer)
            if peer is None or not peer_allowed(peer, own_uid=self.own_uid,
                                                allowed_groups=self.allowed_groups):
                self.refused += 1
                conn.log.warning("control client refused", gid=peer.gid if peer else None,
                                 allowed_groups=list(self.allowed_groups))
                conn.finish(ErrorReply(message="permission denied: this user may not use "
                                               "the control socket"))
                return
            self.accepted += 1
            self._connections.add(conn)
            conn.log.debug("control client connected")
            await conn.serve()
        except Exception:  # whatever happened, this client alone is affected
            _log.exception("control connection failed")
        finally:
            if conn is not None:
                self._connections.discard(conn)
                if conn in self._subscribers:
                    self._subscribers.remove(conn)
                if not conn.closed:
                    conn.finish()
            if handler is not None:
                self._handlers.discard(handler)

    # -- pushes -------------------------------------------------------------------------

    def add_subscriber(self, conn: _Connection) -> None:
        self._subscribers.append(conn)

    def _on_published(self, item: Snapshot | ControlEvent) -> None:
        """The controller's listener: called on its loop, mid-cycle, so it only queues."""
        if not self._subscribers:
            return
        self._pending.append((item, tuple(self._subscribers)))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        for item, targets in pending:
            try:
                line = self._encode(item)
            except Exception:  # a bug in encoding one item: log it, keep the rest
                _log.exception("push not encoded", item=type(item).__name__)
                continue
            self.sent["snapshot" if isinstance(item, Snapshot) else "event"] += len(targets)
            for conn in targets:
                was_open = not conn.closed
                conn.send(line)
                if was_open and conn.closed:
                    self.dropped += 1
                if conn.closed and conn in self._subscribers:
                    self._subscribers.remove(conn)

    @staticmethod
    def _encode(item: Snapshot | ControlEvent) -> bytes:
        if isinstance(item, Snapshot):
            return encode(SnapshotMessage(snapshot=jsonable(item)))
        return encode(EventMessage(event=jsonable(item)))

