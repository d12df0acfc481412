"""One N2 line over pyserial, driven from the asyncio event loop.

pyserial opens the port (a serial device, a pty, or ``socket://HOST:PORT``) in a
worker thread, since opening may block; after that the port runs non-blocking
(``timeout=0``) and the loop watches its file descriptor with ``add_reader``, so
answers and events are read the moment they arrive, with no reader thread.

The reader separates answers from ``EV`` lines: an event goes to ``on_event`` at
once, also while a command waits for its answer; an answer completes the one
command in flight. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial
import structlog

from cryoctl.errors import DeviceRefused, DeviceTimeout, DeviceUnavailable, ProtocolError
from drivers.n2.codec import (
    ErrorReply,
    EventFrame,
    Frame,
    LineSplitter,
    OkReply,
    decode_line,
    encode_command,
)
from drivers.n2.icd import BAUD, ERROR_CODES, UNREADABLE_COMMAND
from drivers.n2.turns import Turns
from drivers.trace import Direction, FrameTrace

__all__ = ["EventHandler", "LostHandler", "N2Link"]

EventHandler = Callable[[EventFrame, float], None]
LostHandler = Callable[[str], None]

_READ_CHUNK_BYTES = 4096
_log = structlog.get_logger("drivers.n2")


@dataclass(slots=True)
class _InFlight:
    command: str
    answer: asyncio.Future[tuple[Frame, float]]


def _text(line: bytes) -> str:
    return line.decode("ascii", errors="backslashreplace")


class N2Link:
    """The byte stream to one unit: open, one request at a time, events, close."""

    def __init__(
        self,
        target: str,
        *,
        url: str,
        clock: Callable[[], float],
        trace: FrameTrace,
        on_event: EventHandler,
        on_lost: LostHandler,
        baud: int = BAUD,
        write_timeout_ms: int = 100,
    ) -> None:
        self._target = target
        self._url = url
        self._clock = clock
        self._trace = trace
        self._on_event = on_event
        self._on_lost = on_lost
        self._baud = baud
        self._write_timeout_ms = write_timeout_ms
        self._port: Any = None
        self._splitter = LineSplitter()
        self._turns = Turns()
        self._in_flight: _InFlight | None = None
        self._closers: set[asyncio.Future[None]] = set()
        #: command -> send time of an earlier one that got no answer in time
        self._unanswered: dict[str, float] = {}

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _open_port(self) -> Any:
        return serial.serial_for_url(
            self._target,
            baudrate=self._baud,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            xonxoff=False,
            rtscts=False,
            exclusive=True,  # a second host on the same serial line is refused
            timeout=0,
            write_timeout=self._write_timeout_ms / 1000.0,
        )

    async def open(self, *, timeout_ms: int = 2000) -> None:
        """Open the port; DeviceUnavailable names the URL and the reason."""
        if self._port is not None:
            return
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, self._open_port)
        try:
            port = await asyncio.wait_for(asyncio.shield(opening), timeout_ms / 1000.0)
        except TimeoutError:
            opening.add_done_callback(_close_when_opened)
            raise DeviceUnavailable(
                f"{self._url}: port did not open within {timeout_ms} ms"
            ) from None
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"{self._url}: {exc}") from None
        self._splitter = LineSplitter()
        self._unanswered.clear()
        self._port = port
        loop.add_reader(port.fileno(), self._on_readable)
        _log.info("n2 link open", url=self._url)

    async def request(
        self,
        command: str,
        *args: str | int,
        timeout_ms: int,
        turn_timeout_ms: int,
        urgent: bool = False,
    ) -> tuple[OkReply, float]:
        """Send one command and wait for its answer; return it with the time it was read.

        That time is the answer's arrival, unless an earlier command of the same name
        went unanswered: the answer may then be that one's, late, and carries the
        earlier send time, so late data never looks fresh. ``turn_timeout_ms`` bounds
        the wait for the bus, ``timeout_ms`` the wait for the answer. ``urgent``
        commands go ahead of every queued one.
        """
        line = encode_command(command, *args)
        try:
            async with asyncio.timeout(turn_timeout_ms / 1000.0):
                await self._turns.acquire(urgent=urgent)
        except TimeoutError:
            raise self._failed(
                DeviceTimeout(
                    f"{self._url}: bus busy, {command} not sent within {turn_timeout_ms} ms"
                )
            ) from None
        try:
            frame, at_s = await self._exchange(command, line, timeout_ms=timeout_ms)
        finally:
            self._in_flight = None
            self._turns.release()
        if isinstance(frame, ErrorReply):
            meaning = ERROR_CODES.get(frame.code, "unknown code")
            raise self._failed(
                DeviceRefused(
                    f"{self._url}: {command} refused: ER,{frame.command},{frame.code} ({meaning})",
                    code=frame.code,
                )
            )
        if not isinstance(frame, OkReply):  # pragma: no cover - events never complete a request
            raise self._failed(ProtocolError(f"{self._url}: {command} answered by {frame}"))
        return frame, at_s

    async def _exchange(self, command: str, line: bytes, *, timeout_ms: int) -> tuple[Frame, float]:
        port = self._port
        if port is None:
            raise DeviceUnavailable(f"{self._url}: link is down")
        answer: asyncio.Future[tuple[Frame, float]] = asyncio.get_running_loop().create_future()
        self._in_flight = _InFlight(command=command, answer=answer)
        sent_at_s = self._clock()
        self._trace.record(Direction.TX, _text(line), sent_at_s)
        try:
            port.write(line)
        except (serial.SerialException, OSError) as exc:
            reason = f"write failed: {exc}"
            self._lose(reason)
            raise DeviceUnavailable(f"{self._url}: {reason}") from None
        try:
            async with asyncio.timeout(timeout_ms / 1000.0):
                return await answer
        except TimeoutError:
            self._unanswered.setdefault(command, sent_at_s)
            raise self._failed(
                DeviceTimeout(f"{self._url}: no answer to {command} within {timeout_ms} ms")
            ) from None
        except ProtocolError as exc:
            self._unanswered.setdefault(command, sent_at_s)
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> Exception:
        self._trace.dump(None, str(exc))
        return exc

    def _on_readable(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            data: bytes = port.read(_READ_CHUNK_BYTES)
        except (serial.SerialException, OSError) as exc:
            self._lose(f"read failed: {exc}")
            return
        now = self._clock()
        for chunk in self._splitter.feed(data):
            self._on_chunk(chunk, now)

    def _on_chunk(self, chunk: bytes, now: float) -> None:
        self._trace.record(Direction.RX, _text(chunk), now)
        in_flight = self._in_flight
        try:
            frame = decode_line(chunk)
        except ProtocolError as exc:
            # A whole line that is wrong may be the answer, spoiled: fail the command now.
            # Noise and fragments cut short by the next "$" are only logged.
            whole_line = chunk.startswith(b"$") and chunk.endswith(b"\r\n")
            if whole_line and in_flight is not None and not in_flight.answer.done():
                in_flight.answer.set_exception(
                    ProtocolError(
                        f"{self._url}: bad line while waiting for {in_flight.command}: {exc}"
                    )
                )
            else:
                _log.warning("n2 bad line", url=self._url, reason=str(exc))
            return
        if isinstance(frame, EventFrame):
            self._on_event(frame, now)
            return
        answers_in_flight = in_flight is not None and (
            frame.command == in_flight.command
            or (isinstance(frame, ErrorReply) and frame.command == UNREADABLE_COMMAND)
        )
        earlier_s = self._unanswered.pop(frame.command, None)
        if in_flight is not None and answers_in_flight and not in_flight.answer.done():
            in_flight.answer.set_result((frame, now if earlier_s is None else earlier_s))
        else:
            _log.warning(
                "n2 answer with no command waiting for it", url=self._url, line=_text(chunk)
            )

    def _lose(self, reason: str) -> None:
        port = self._port
        if port is None:
            return
        self._port = None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(port.fileno())
        closer = loop.run_in_executor(None, port.close)
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)
        in_flight = self._in_flight
        if in_flight is not None and not in_flight.answer.done():
            in_flight.answer.set_exception(DeviceUnavailable(f"{self._url}: {reason}"))
        self._trace.dump(None, f"link lost: {reason}")
        self._on_lost(reason)

    async def aclose(self) -> None:
        """Release the port; waits for the close to finish."""
        port = self._port
        self._port = None
        if port is not None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(port.fileno())
            await loop.run_in_executor(None, port.close)
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)


def _close_when_opened(opening: asyncio.Future[Any]) -> None:
    """A port that opened after its deadline passed is closed, not leaked."""
    if opening.cancelled() or opening.exception() is not None:
        return
    asyncio.get_running_loop().run_in_executor(None, opening.result().close)
