"""The N2 line codec, from the unit's side of the wire: bytes in, lines out, no I/O.

A line is ``$<BODY>*<CK>\\r\\n``, at most 96 bytes; ``CK`` is the XOR of every BODY
byte as two upper-case hex digits.

Decisions where the ICD (rev C) leaves room, shared with ``simulator.n2``'s docstring:

- bytes before a ``$`` are ignored (counted as ``noise_bytes``);
- a ``$`` inside an unfinished line starts a new line and silently discards the
  unfinished one (that is how the unit resynchronises after a host timed out on a
  truncated command; answering it would shift every later answer by one);
- a line that reaches 96 bytes without ``\\r\\n`` is dropped, answered ``ER,?,SYN``
  once, and everything up to the next ``$`` is ignored;
- the terminator is exactly ``\\r\\n``; a ``\\n`` without ``\\r`` ends the line and is
  answered ``ER,?,SYN`` (a strict unit catches a host that gets this wrong);
- a missing ``*``, a CK that is not two upper-case hex digits, and a CK that does
  not match are all ``ER,<CMD or ?>,CHK``; ``CMD`` is named only when the first field
  of the (suspect) body is one of the unit's commands, otherwise ``?``;
- a line whose body holds bytes outside printable ASCII passes the checksum test
  first (the checksum is over bytes), then is answered ``ER,?,SYN``.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = [
    "MAX_LINE_BYTES",
    "BadChecksum",
    "Decoded",
    "Line",
    "LineDecoder",
    "SyntaxFault",
    "checksum",
    "encode",
]

MAX_LINE_BYTES = 96
_CK_RE = re.compile(rb"[0-9A-F]{2}")


def checksum(body: bytes) -> str:
    """XOR of every byte of ``body`` as two upper-case hex digits."""
    value = 0
    for byte in body:
        value ^= byte
    return f"{value:02X}"


def encode(body: str, *, corrupt: bool = False) -> bytes:
    """One complete line for ``body``; ``corrupt`` spoils the checksum on purpose."""
    raw = body.encode("ascii")
    ck = checksum(raw)
    if corrupt:
        ck = f"{int(ck, 16) ^ 0x5A:02X}"
    line = b"$" + raw + b"*" + ck.encode("ascii") + b"\r\n"
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}: {body!r}")
    return line


@dataclasses.dataclass(frozen=True)
class Line:
    """A line that passed its checksum: ``body`` decoded as ASCII."""

    body: str


@dataclasses.dataclass(frozen=True)
class BadChecksum:
    """A complete line whose checksum is missing or wrong; ``first_field`` may be garbage."""

    first_field: str


@dataclasses.dataclass(frozen=True)
class SyntaxFault:
    """A line that cannot be read at all (over-long, bad terminator, non-ASCII body)."""

    why: str
    raw: bytes


Decoded = Line | BadChecksum | SyntaxFault


def _first_field(body: bytes) -> str:
    return body.split(b",", 1)[0].decode("ascii", errors="replace")


def _parse(raw: bytes) -> Decoded:
    """Read one line ``$...\\n`` (``raw`` includes the ``$`` and the ``\\n``)."""
    if not raw.endswith(b"\r\n"):
        return SyntaxFault("line ends in LF without CR", raw)
    inner = raw[1:-2]
    star = inner.rfind(b"*")
    if star < 0:
        return BadChecksum(_first_field(inner))
    body, ck = inner[:star], inner[star + 1 :]
    if not _CK_RE.fullmatch(ck) or ck.decode("ascii") != checksum(body):
        return BadChecksum(_first_field(body))
    if any(b < 0x20 or b > 0x7E for b in body):
        return SyntaxFault("body holds bytes outside printable ASCII", raw)
    return Line(body.decode("ascii"))


class LineDecoder:
    """Splits a byte stream into lines the way the unit's UART handler does."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_line = False
        self.noise_bytes = 0

    def reset(self) -> None:
        """Forget any unfinished line (a new connection, a reopened port)."""
        self._buf.clear()
        self._in_line = False

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        for byte in data:
            if byte == 0x24:  # "$": a new line starts, an unfinished one is discarded
                self._buf[:] = b"$"
                self._in_line = True
                continue
            if not self._in_line:
                self.noise_bytes += 1
                continue
            self._buf.append(byte)
            if byte == 0x0A:
                out.append(_parse(bytes(self._buf)))
                self.reset()
            elif len(self._buf) >= MAX_LINE_BYTES:
                why = f"line longer than {MAX_LINE_BYTES} bytes"
                out.append(SyntaxFault(why, bytes(self._buf)))
                self.reset()
        return out
