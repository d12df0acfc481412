"""Helpers for the N2 simulator tests: frames built and checked here, not by the unit."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import serial

from simulator.base import ManualClock
from simulator.n2.unit import N2Config, N2Unit

_LINE_RE = re.compile(rb"\$([\x20-\x7e]*)\*([0-9A-F]{2})\r\n")


def frame(body: str) -> bytes:
    """``$BODY*CK\\r\\n`` with the ICD's checksum, computed independently of the unit."""
    ck = functools.reduce(lambda a, b: a ^ b, body.encode("ascii"), 0)
    return b"$" + body.encode("ascii") + b"*" + f"{ck:02X}".encode() + b"\r\n"


def unframe(line: bytes) -> str:
    """The body of one line the unit sent; fails the test on bad framing or checksum."""
    m = _LINE_RE.fullmatch(line)
    assert m is not None, f"not a line: {line!r}"
    body = m.group(1)
    ck = functools.reduce(lambda a, b: a ^ b, body, 0)
    assert m.group(2) == f"{ck:02X}".encode(), f"bad checksum from the unit: {line!r}"
    return body.decode("ascii")


def split_lines(data: bytes) -> list[str]:
    return [unframe(part + b"\n") for part in data.split(b"\n") if part]


class Bench:
    """An in-process unit on a manual clock, spoken to in bytes."""

    def __init__(self, config: N2Config | None = None) -> None:
        self.clock = ManualClock()
        self.unit = N2Unit(clock=self.clock, config=config)

    def send(self, data: bytes) -> list[str]:
        return [unframe(o.data) for o in self.unit.receive(data)]

    def tx(self, *bodies: str) -> list[str]:
        return self.send(b"".join(frame(b) for b in bodies))

    def ask(self, body: str) -> str:
        """The one answer to ``body`` (events are not expected here)."""
        out = self.tx(body)
        answers = [line for line in out if not line.startswith("EV,")]
        assert len(answers) == 1, out
        return answers[0]

    def wait(self, dt_s: float) -> list[str]:
        self.clock.advance(dt_s)
        self.unit.advance()
        return self.events()

    def events(self) -> list[str]:
        return [unframe(o.data) for o in self.unit.take_output()]

    def start(self) -> None:
        """What a host does first (ICD): ID, WDT, PRESS, RESET."""
        for line in self.tx("ID", "WDT,1000", "PRESS,50", "RESET"):
            assert line.startswith(("OK,", "EV,FAULT,")), line

    def stat(self) -> list[str]:
        answer = self.ask("STAT")
        fields = answer.split(",")
        assert fields[:2] == ["OK", "STAT"] and len(fields) == 11, answer
        return fields[2:]


def only_events(lines: Iterable[str]) -> list[str]:
    return [line for line in lines if line.startswith("EV,")]


class LineClient:
    """A host on a real port (pyserial: a pty path or ``socket://``), reading whole lines."""

    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=timeout_s)
        self.port.reset_input_buffer()
        self.events: list[str] = []

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self) -> str:
        raw = self.port.readline()
        assert raw.endswith(b"\n"), f"no complete line within the timeout: {raw!r}"
        return unframe(raw)

    def answer(self) -> str:
        while True:
            line = self.line()
            if not line.startswith("EV,"):
                return line
            self.events.append(line)

    def ask(self, body: str) -> str:
        self.port.write(frame(body))
        return self.answer()

    def event(self) -> str:
        if self.events:
            return self.events.pop(0)
        line = self.line()
        assert line.startswith("EV,"), line
        return line
