"""Tell systemd how the service is doing: the sd_notify datagram protocol, by hand.

systemd passes ``$NOTIFY_SOCKET``, an ``AF_UNIX`` datagram socket: an absolute
path, or ``@name`` for a name in Linux's abstract namespace. Each message is one
datagram of newline-separated ``KEY=value`` assignments (``READY=1``,
``WATCHDOG=1``, ``STATUS=...``, ``STOPPING=1``). See sd_notify(3).

Without ``$NOTIFY_SOCKET`` (a terminal, the tests) every method does nothing. A
send that fails (the socket is gone, its queue is full) is logged and counted,
never raised: telling systemd must not stop the control loop. The socket is
non-blocking for the same reason.

``$WATCHDOG_USEC`` (with ``$WATCHDOG_PID``, when set, naming this process) gives
the watchdog timeout; ping at half of it, as sd_watchdog_enabled(3) advises.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Final

import structlog

__all__ = ["NOTIFY_SOCKET_ENV", "WATCHDOG_PID_ENV", "WATCHDOG_USEC_ENV", "Notifier"]

NOTIFY_SOCKET_ENV: Final = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV: Final = "WATCHDOG_USEC"
WATCHDOG_PID_ENV: Final = "WATCHDOG_PID"

#: Longest STATUS= text sent; systemd shows one short line.
MAX_STATUS_CHARS: Final = 256
#: Longest socket addresses Linux accepts: sun_path is 108 bytes, and a path needs its NUL.
_MAX_PATH_BYTES: Final = 107
_MAX_ABSTRACT_BYTES: Final = 108

_log = structlog.get_logger("cryoctl.control.notify")


def _address(value: str) -> str | bytes | None:
    """The ``sendto`` address of a ``$NOTIFY_SOCKET`` value, or ``None`` if unusable."""
    if value.startswith("@") and len(value) > 1:
        abstract = b"\0" + os.fsencode(value[1:])
        return abstract if len(abstract) <= _MAX_ABSTRACT_BYTES else None
    if value.startswith("/"):
        path = os.fsencode(value)
        return value if len(path) <= _MAX_PATH_BYTES and b"\0" not in path else None
    return None


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    text = environ.get(WATCHDOG_USEC_ENV)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        _log.warning("watchdog setting ignored", variable=WATCHDOG_USEC_ENV, value=text[:40])
        return None
    pid = environ.get(WATCHDOG_PID_ENV)
    if pid is not None and pid != str(os.getpid()):
        # The watchdog belongs to another process (our parent, or a child we are).
        return None
    return int(text)


class Notifier:
    """Sends sd_notify messages to one socket, or to none (every method is then a no-op).

    ``sent`` and ``failed`` count the datagrams that went out and those that did not.
    """

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        #: ``$NOTIFY_SOCKET`` as given; ``None`` when systemd is not listening.
        self.address = address
        self._target = _address(address) if address is not None else None
        if address is not None and self._target is None:
            _log.warning("notify socket ignored: not an absolute path or @name",
                         address=address[:120])
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self.sent = 0
        self.failed = 0
        self._failing = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 unset_environment: bool = False) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC``, a no-op one when unset.

        ``unset_environment`` removes the variables from ``os.environ`` (only when
        reading it), so child processes (the simulator, the panel server) do not
        speak for this service.
        """
        env = os.environ if environ is None else environ
        notifier = cls(env.get(NOTIFY_SOCKET_ENV) or None, watchdog_usec=_watchdog_usec(env))
        if unset_environment and environ is None:
            for name in (NOTIFY_SOCKET_ENV, WATCHDOG_USEC_ENV, WATCHDOG_PID_ENV):
                os.environ.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to send to."""
        return self._target is not None

    def watchdog_interval_s(self) -> float | None:
        """The watchdog timeout systemd set for this process, or ``None`` when there is none.

        Send :meth:`watchdog` at least twice within it.
        """
        return self._watchdog_usec / 1e6 if self._watchdog_usec is not None else None

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (``READY=1``), optionally with a status line."""
        return self.send("READY=1", *self._status(status))

    def watchdog(self) -> bool:
        """The service is alive (``WATCHDOG=1``)."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status that ``systemctl status`` shows (``STATUS=...``)."""
        return self.send(*self._status(text))

    def stopping(self, status: str | None = None) -> bool:
        """Shut-down has begun (``STOPPING=1``)."""
        return self.send("STOPPING=1", *self._status(status))

    @staticmethod
    def _status(text: str | None) -> tuple[str, ...]:
        if text is None:
            return ()
        line = " ".join(text.split())[:MAX_STATUS_CHARS]
        return (f"STATUS={line}",)

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments as one datagram; whether it went out.

        A no-op (``False``) without a socket. Never raises on a failed send.
        """
        if self._target is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto(payload, self._target)
        except OSError as exc:
            self.failed += 1
            self._drop_socket()
            if not self._failing:
                self._failing = True
                _log.warning("notify send failed", address=self.address,
                             message=assignments[0], error=exc.strerror or str(exc),
                             failed=self.failed)
            return False
        self.sent += 1
        if self._failing:
            self._failing = False
            _log.info("notify sends again", address=self.address, failed=self.failed)
        return True

    def _drop_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        """Close the socket; later sends open a new one."""
        self._drop_socket()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
