"""The one writer of the records database: a thread fed by a queue.

The control loop only calls :meth:`RecordsWriter.submit`, which never blocks and
never touches SQLite; the thread runs each write in its own transaction, in the
order submitted. A write that fails is rolled back, logged, counted, and
reported through ``on_failure`` (the daemon raises an alarm and refuses new
sessions from then on); the writes after it are still tried, so a session's close
is written whenever the database takes it again.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import structlog

from cryoctl.records.schema import open_records

__all__ = ["RecordsWriter", "Write"]

_log = structlog.get_logger("cryoctl.records.writer")

#: One write: runs inside a transaction on the writer's connection.
Write = Callable[[sqlite3.Connection], None]
_STOP: Final = object()


class RecordsWriter:
    """Owns the database connection; :meth:`start`, :meth:`submit`, :meth:`close`."""

    def __init__(self, path: Path, *, on_failure: Callable[[str], None] | None = None) -> None:
        self.path = path
        #: Told of every failed write (from the writer's thread).
        self.on_failure = on_failure
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        #: Writes that failed since start (read from any thread).
        self.failures = 0
        self.last_failure: str | None = None
        self.written = 0

    def open(self) -> None:
        """Open and migrate (RecordsError naming the file); call before :meth:`start`."""
        self._conn = open_records(self.path)

    def start(self) -> None:
        if self._conn is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name="records writer", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self.failures > 0

    def submit(self, write: Write) -> None:
        """Queue one write; returns at once."""
        self._queue.put(write)

    def run_now(self, write: Write) -> None:
        """Run one write on the caller's thread, before :meth:`start` (start-up only)."""
        assert self._thread is None and self._conn is not None
        self._transaction(write)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything submitted so far is written (tests, shut-down)."""
        done = threading.Event()
        self.submit(lambda _conn: done.set())
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop the thread and close the connection."""
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout_s)
            if thread.is_alive():
                _log.error("records writer did not finish in time", timeout_s=timeout_s)
                return
        self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert callable(item)
            self._transaction(item)

    def check(self, timeout_s: float = 5.0) -> bool:
        """Commit one small write and wait for it: whether the database takes writes now.

        False when it failed (then :attr:`last_failure` says why, and ``on_failure``
        was told) or did not finish within ``timeout_s``.
        """
        before = self.failures
        self.submit(_check_write)
        return self.flush(timeout_s) and self.failures == before

    def _transaction(self, write: Write) -> None:
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                write(conn)
                conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk) leaves the transaction open: end it, or
                # every later BEGIN fails too, even once the disk has room again.
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        _log.exception("records rollback failed")
                raise
            self.written += 1
        except Exception as exc:  # the database refused: report it, keep the next writes going
            self.failures += 1
            detail = f"{self.path}: {type(exc).__name__}: {exc}"
            self.last_failure = detail
            _log.error("records write failed", error=detail)
            if self.on_failure is not None:
                try:
                    self.on_failure(detail)
                except Exception:  # the report itself failed: the log line above stands
                    _log.exception("records failure report failed")


def _check_write(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO write_check (one, writes) VALUES (1, 1) "
                 "ON CONFLICT (one) DO UPDATE SET writes = writes + 1")
