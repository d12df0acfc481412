"""The frame ring buffer keeps the last frames with times and writes them to the log."""

from __future__ import annotations

from typing import Any

import pytest
import structlog.testing

from drivers.trace import DEFAULT_CAPACITY, Direction, FrameTrace


class _RecordingLogger:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, event: str, /, **kw: Any) -> None:
        self.entries.append(("debug", event, kw))

    def warning(self, event: str, /, **kw: Any) -> None:
        self.entries.append(("warning", event, kw))


def test_keeps_the_last_200_frames_oldest_first() -> None:
    trace = FrameTrace(link="bus", logger=_RecordingLogger())
    for i in range(DEFAULT_CAPACITY + 50):
        trace.record("tx" if i % 2 else "rx", bytes([i % 256]), float(i))
    frames = trace.frames()
    assert len(frames) == len(trace) == DEFAULT_CAPACITY == trace.capacity
    assert frames[0].at_s == 50.0 and frames[-1].at_s == 249.0
    assert frames[-1].direction is Direction.TX


def test_each_frame_is_traced_at_debug_level() -> None:
    log = _RecordingLogger()
    trace = FrameTrace(link="cjair", logger=log)
    trace.record(Direction.TX, bytearray(b"\x01\x05\x00\x00\xff\x00"), 1.5)
    trace.record(Direction.RX, "$OK,HB,1*2A\r\n", 1.75)
    assert log.entries == [
        ("debug", "frame", {"link": "cjair", "direction": "tx", "at_s": 1.5,
                            "frame": "01 05 00 00 ff 00"}),
        ("debug", "frame", {"link": "cjair", "direction": "rx", "at_s": 1.75,
                            "frame": "$OK,HB,1*2A\r\n"}),
    ]


def test_dump_writes_every_frame_with_the_reason() -> None:
    trace = FrameTrace(link="n2", capacity=3, logger=_RecordingLogger())
    for i in range(5):
        trace.record(Direction.TX, f"L{i}", i / 4)
    with structlog.testing.capture_logs() as captured:
        written = trace.dump(structlog.get_logger(), "timeout")
    assert written == 3
    assert captured == [
        {
            "event": "frame trace",
            "log_level": "warning",
            "link": "n2",
            "reason": "timeout",
            "count": 3,
            "frames": ["0.500000 tx 'L2'", "0.750000 tx 'L3'", "1.000000 tx 'L4'"],
        }
    ]
    assert len(trace) == 3  # dumping keeps the history


def test_default_logger_is_structlog() -> None:
    trace = FrameTrace(link="x")
    with structlog.testing.capture_logs() as captured:
        trace.record("rx", b"\xab", 2.0)
        trace.dump(None, "lost link")
    assert [e["event"] for e in captured] == ["frame", "frame trace"]
    assert captured[1]["frames"] == ["2.000000 rx ab"]


def test_bad_direction_and_capacity_are_refused() -> None:
    with pytest.raises(ValueError):
        FrameTrace(link="x", capacity=0)
    trace = FrameTrace(link="x", logger=_RecordingLogger())
    with pytest.raises(ValueError):
        trace.record("sideways", b"", 0.0)
