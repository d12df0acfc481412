"""Frames of the N2 line protocol <-> bytes. Pure: no I/O, no clock.

A line is ``$<BODY>*<CK>\\r\\n``, at most 96 bytes, ``CK`` the XOR of every byte of
BODY as two upper-case hex digits. Every way a line can be wrong raises
:class:`~cryoctl.errors.ProtocolError` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryoctl.errors import ProtocolError
from drivers.n2.icd import ERROR_CODES, EVENT_ARITY, MAX_LINE_BYTES, UNREADABLE_COMMAND

__all__ = [
    "ErrorReply",
    "EventFrame",
    "Frame",
    "LineSplitter",
    "OkReply",
    "checksum",
    "decode_line",
    "encode_command",
]

START: Final = b"$"
END: Final = b"\r\n"
_HEX_UPPER: Final = frozenset("0123456789ABCDEF")
#: Bytes that may not appear inside a field.
_FORBIDDEN_IN_FIELD: Final = frozenset("$*,\r\n")


@dataclass(frozen=True, slots=True)
class OkReply:
    """``OK,<CMD>,<fields...>``: the unit did what ``command`` asked."""

    command: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``ER,<CMD>,<code>``: the unit refused ``command`` (``?`` if it could not read it)."""

    command: str
    code: str


@dataclass(frozen=True, slots=True)
class EventFrame:
    """``EV,<NAME>,<fields...>``: something the unit says on its own."""

    name: str
    fields: tuple[str, ...]


Frame = OkReply | ErrorReply | EventFrame


def checksum(body: bytes) -> int:
    """XOR of every byte of ``body``."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def _check_field(field: str) -> None:
    if not field or not field.isascii() or not field.isprintable():
        raise ProtocolError(f"field {field!r} is empty or not printable ASCII")
    if _FORBIDDEN_IN_FIELD.intersection(field):
        raise ProtocolError(f"field {field!r} holds a reserved character")


def encode_command(command: str, *args: str | int) -> bytes:
    """One host line, e.g. ``encode_command("HB", 17) == b"$HB,17*20\\r\\n"``."""
    fields = [command, *(str(arg) for arg in args)]
    for field in fields:
        _check_field(field)
    body = ",".join(fields).encode("ascii")
    line = START + body + b"*" + f"{checksum(body):02X}".encode("ascii") + END
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def _body_of(line: bytes) -> str:
    """The checked BODY of a complete line."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}: {line[:40]!r}")
    if not line.startswith(START):
        raise ProtocolError(f"line does not start with '$': {line!r}")
    if not line.endswith(END):
        raise ProtocolError(f"line does not end with CR LF: {line!r}")
    star = line.rfind(b"*")
    if star < 0 or star != len(line) - len(END) - 3:
        raise ProtocolError(f"no '*CK' before CR LF: {line!r}")
    body = line[1:star]
    ck = line[star + 1 : star + 3]
    try:
        body_text = body.decode("ascii")
        ck_text = ck.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII bytes in line: {line!r}") from None
    if len(ck_text) != 2 or not _HEX_UPPER.issuperset(ck_text):
        raise ProtocolError(f"checksum {ck_text!r} is not two upper-case hex digits: {line!r}")
    if int(ck_text, 16) != checksum(body):
        raise ProtocolError(f"bad checksum {ck_text}, expected {checksum(body):02X}: {line!r}")
    return body_text


def decode_line(line: bytes) -> Frame:
    """Decode one complete unit line (``$`` .. ``\\r\\n``) into a frame."""
    body = _body_of(line)
    fields = body.split(",")
    for field in fields:
        if not field or not field.isprintable() or _FORBIDDEN_IN_FIELD.intersection(field):
            raise ProtocolError(f"empty or unprintable field in {line!r}")
    kind, rest = fields[0], tuple(fields[1:])
    if kind == "OK":
        if not rest:
            raise ProtocolError(f"OK without a command: {line!r}")
        return OkReply(command=rest[0], fields=rest[1:])
    if kind == "ER":
        if len(rest) != 2:
            raise ProtocolError(f"ER needs a command and a code: {line!r}")
        command, code = rest
        if code not in ERROR_CODES:
            raise ProtocolError(f"unknown error code {code!r}: {line!r}")
        if command != UNREADABLE_COMMAND and not command.isalpha():
            raise ProtocolError(f"ER names no command: {line!r}")
        return ErrorReply(command=command, code=code)
    if kind == "EV":
        if not rest:
            raise ProtocolError(f"EV without a name: {line!r}")
        name, values = rest[0], rest[1:]
        arity = EVENT_ARITY.get(name)
        if arity is None:
            raise ProtocolError(f"unknown event {name!r}: {line!r}")
        if len(values) != arity:
            raise ProtocolError(f"event {name} takes {arity} field(s): {line!r}")
        return EventFrame(name=name, fields=values)
    raise ProtocolError(f"line is neither OK, ER nor EV: {line!r}")


class LineSplitter:
    """Cut a byte stream into candidate lines.

    :meth:`feed` returns, in order, every complete line (``$`` .. ``\\r\\n``) and every
    run of noise: bytes before a ``$``, a line cut short by a new ``$``, or a line
    longer than the ICD allows. Noise never starts with ``$`` *and* ends with CR LF
    within the limit, so :func:`decode_line` rejects it with ProtocolError.
    """

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes held while waiting for the rest of a line."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for byte in data:
            if byte == START[0] and self._buf:
                out.append(bytes(self._buf))
                self._buf.clear()
            if not self._buf and byte != START[0]:
                # noise outside a line: gather it into one chunk
                if out and not out[-1].startswith(START):
                    out[-1] += bytes((byte,))
                else:
                    out.append(bytes((byte,)))
                continue
            self._buf.append(byte)
            if self._buf.endswith(END) or len(self._buf) > self._max:
                out.append(bytes(self._buf))
                self._buf.clear()
        return out
