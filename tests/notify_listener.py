"""A ``$NOTIFY_SOCKET`` as systemd's, for tests of the control process and its units.

Every datagram is read at once by a thread: a Unix datagram socket queues only
``net.unix.max_dgram_qlen`` messages (often 10), and a reader that waits lets the
sender's later messages be refused.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path


class NotifyListener:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(os.fspath(path))
        self._sock.settimeout(0.05)
        self._lock = threading.Lock()
        self._said: list[str] = []
        self._taken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> NotifyListener:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._said.append(data.decode())

    def said(self) -> list[str]:
        """Everything said so far."""
        with self._lock:
            return list(self._said)

    def take(self) -> list[str]:
        """What was said since the last call."""
        with self._lock:
            said = self._said[self._taken :]
            self._taken = len(self._said)
        return said
