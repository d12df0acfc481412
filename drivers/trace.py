"""A ring buffer of the last frames on a link, for the log when something goes wrong.

Every frame is also traced at debug level as it passes, so a debug log shows the
whole conversation; :meth:`FrameTrace.dump` writes the buffered frames at warning
level with the reason, so an error in a production log carries its context.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

__all__ = ["DEFAULT_CAPACITY", "Direction", "FrameTrace", "TracedFrame"]

#: Frames kept per link.
DEFAULT_CAPACITY: Final = 200


class Direction(enum.StrEnum):
    TX = "tx"  # host -> unit
    RX = "rx"  # unit -> host


class TraceLogger(Protocol):
    def debug(self, event: str, /, **kw: Any) -> Any: ...

    def warning(self, event: str, /, **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class TracedFrame:
    direction: Direction
    frame: bytes | str
    at_s: float

    def render(self) -> str:
        """One line: monotonic time, direction, and hex bytes or the text as sent."""
        body = self.frame.hex(" ") if isinstance(self.frame, bytes) else repr(self.frame)
        return f"{self.at_s:.6f} {self.direction.value} {body}"


class FrameTrace:
    """The last ``capacity`` frames of one link, with monotonic times and direction."""

    def __init__(
        self,
        *,
        link: str,
        capacity: int = DEFAULT_CAPACITY,
        logger: TraceLogger | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.link = link
        self._frames: deque[TracedFrame] = deque(maxlen=capacity)
        self._log: TraceLogger = logger if logger is not None else structlog.get_logger("drivers")

    @property
    def capacity(self) -> int:
        maxlen = self._frames.maxlen
        assert maxlen is not None
        return maxlen

    def record(
        self, direction: Direction | str, frame: bytes | bytearray | str, at_s: float
    ) -> None:
        """Keep one frame and trace it at debug level."""
        kept = TracedFrame(
            direction=Direction(direction),
            frame=bytes(frame) if isinstance(frame, bytearray) else frame,
            at_s=at_s,
        )
        self._frames.append(kept)
        self._log.debug(
            "frame",
            link=self.link,
            direction=kept.direction.value,
            at_s=at_s,
            frame=kept.frame.hex(" ") if isinstance(kept.frame, bytes) else kept.frame,
        )

    def frames(self) -> list[TracedFrame]:
        """The kept frames, oldest first."""
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()

    def dump(self, logger: TraceLogger | None, reason: str) -> int:
        """Write the kept frames to ``logger`` (or the trace's own) at warning level.

        One log entry carries the reason, the link and every frame as a line; returns
        how many frames were written.
        """
        target = logger if logger is not None else self._log
        lines = [frame.render() for frame in self._frames]
        target.warning(
            "frame trace", link=self.link, reason=reason, count=len(lines), frames=lines
        )
        return len(lines)
