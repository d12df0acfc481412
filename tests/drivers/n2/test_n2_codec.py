"""The N2 codec against literal lines (ICD rev C), bad checksums, truncation and noise."""

from __future__ import annotations

import pytest
from fuzzing import fuzz
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoctl.errors import ProtocolError
from drivers.n2.codec import (
    ErrorReply,
    EventFrame,
    LineSplitter,
    OkReply,
    checksum,
    decode_line,
    encode_command,
)
from drivers.n2.icd import MAX_LINE_BYTES


def test_icd_example_heartbeat_encodes_exactly() -> None:
    assert encode_command("HB", 17) == b"$HB,17*20\r\n"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("ID",), b"$ID*0D\r\n"),
        (("STAT",), b"$STAT*12\r\n"),
        (("CLOSE",), b"$CLOSE*56\r\n"),
        (("OPEN", 100), b"$OPEN,100*09\r\n"),
        (("WDT", 500), b"$WDT,500*5E\r\n"),
        (("PRESS", 50), b"$PRESS,50*6E\r\n"),
        (("RESET",), b"$RESET*55\r\n"),
    ],
)
def test_commands_encode_to_literal_lines(args: tuple[str | int, ...], line: bytes) -> None:
    name, *rest = args
    assert encode_command(str(name), *rest) == line


def test_checksum_is_xor_of_body() -> None:
    assert checksum(b"HB,17") == 0x20
    assert checksum(b"") == 0


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b"$OK,HB,17*08\r\n", OkReply("HB", ("17",))),
        (
            b"$OK,ID,N2-CRYO,SN0042,1.3.0*76\r\n",
            OkReply("ID", ("N2-CRYO", "SN0042", "1.3.0")),
        ),
        (b"$OK,CLOSE*7E\r\n", OkReply("CLOSE", ())),
        (b"$ER,OPEN,ILK*4D\r\n", ErrorReply("OPEN", "ILK")),
        (b"$ER,?,CHK*68\r\n", ErrorReply("?", "CHK")),
        (b"$EV,TRIG,1*2A\r\n", EventFrame("TRIG", ("1",))),
        (b"$EV,LEASE*61\r\n", EventFrame("LEASE", ())),
        (b"$EV,FAULT,0002*5B\r\n", EventFrame("FAULT", ("0002",))),
        (b"$EV,NOZZLE,-*36\r\n", EventFrame("NOZZLE", ("-",))),
    ],
)
def test_literal_unit_lines_decode(line: bytes, frame: object) -> None:
    assert decode_line(line) == frame


@pytest.mark.parametrize(
    "line",
    [
        b"$OK,HB,17*09\r\n",  # wrong checksum
        b"$OK,HB,17*08\n",  # no CR
        b"$OK,HB,17*08",  # truncated
        b"$OK,HB,17*0\r\n",  # one hex digit
        b"$ok,hb,17*48\r\n",  # not OK/ER/EV
        b"OK,HB,17*08\r\n",  # no $
        b"$OK,HB,17\r\n",  # no checksum
        b"$OK,HB,17*0a\r\n",  # lower-case hex
        b"$ER,OPEN*0C\r\n",  # ER without a code
        b"$ER,OPEN,XYZ*58\r\n",  # unknown error code
        b"$EV,LEASE,1*7C\r\n",  # LEASE takes no field
        b"$EV,BOOM,1*2F\r\n",  # unknown event
        b"$OK*64\r\n",  # OK without a command
        b"$OK,,17*26\r\n",  # empty field
        b"$OK,HB,\xff*B7\r\n",  # not ASCII
        b"$" + b"OK," + b"9" * 100 + b"*00\r\n",  # longer than 96 bytes
    ],
)
def test_bad_lines_raise_protocol_error_only(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_line(line)


@pytest.mark.parametrize("field", ["", "a,b", "x*", "$", "a\r", "é"])
def test_fields_that_would_break_framing_are_refused(field: str) -> None:
    with pytest.raises(ProtocolError):
        encode_command("HB", field)


def test_overlong_command_is_refused() -> None:
    with pytest.raises(ProtocolError):
        encode_command("HB", "9" * MAX_LINE_BYTES)


def test_splitter_separates_lines_noise_and_partial_lines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"xx$EV,TRIG,1*2A\r\n$OK,HB") == [b"xx", b"$EV,TRIG,1*2A\r\n"]
    assert splitter.pending == b"$OK,HB"
    assert splitter.feed(b",17*08\r\n") == [b"$OK,HB,17*08\r\n"]
    assert splitter.pending == b""


def test_splitter_restarts_at_a_new_dollar_and_cuts_overlong_lines() -> None:
    splitter = LineSplitter()
    out = splitter.feed(b"$OK,H$EV,LEASE*61\r\n")
    assert out == [b"$OK,H", b"$EV,LEASE*61\r\n"]
    long = b"$" + b"9" * MAX_LINE_BYTES
    out = splitter.feed(long + b"\r\n")
    assert out[0] == long
    assert all(len(chunk) <= MAX_LINE_BYTES + 1 for chunk in out)
    for chunk in (out[0], b"$OK,H"):
        with pytest.raises(ProtocolError):
            decode_line(chunk)


def _line(body: bytes) -> bytes:
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode() + b"\r\n"


_VALID_BODIES = st.sampled_from(
    [
        b"OK,HB,17",
        b"OK,STAT,1,1,0,B,50,87,-1855,209,0000",
        b"ER,OPEN,ILK",
        b"EV,TRIG,1",
        b"EV,FAULT,0041",
        b"OK,ID,N2-CRYO,SN0042,1.3.0",
    ]
)


@fuzz(300, st.binary(max_size=120))
def test_random_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        decode_line(data)
    except ProtocolError:
        return
    assert data.startswith(b"$")
    assert data.endswith(b"\r\n")


@fuzz(300, _VALID_BODIES, st.data())
def test_mutated_lines_decode_or_raise_protocol_error(body: bytes, data: st.DataObject) -> None:
    line = bytearray(_line(body))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(line) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip":
            line[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "drop":
            del line[at]
        else:
            line.insert(at, data.draw(st.integers(0, 255)))
    try:
        decode_line(bytes(line))
    except ProtocolError:
        return
    # A mutation that survives must still carry a checksum that matches its body.
    assert int(bytes(line[-4:-2]), 16) == checksum(bytes(line[1:-5]))


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_splitter_never_loses_a_valid_line_among_noise(noise: list[bytes]) -> None:
    valid = _line(b"EV,TRIG,1")
    stream = b"".join(chunk.replace(b"$", b"") + valid for chunk in noise)
    splitter = LineSplitter()
    chunks = splitter.feed(stream)
    decoded = []
    for chunk in chunks:
        try:
            decoded.append(decode_line(chunk))
        except ProtocolError:
            continue
    assert decoded == [EventFrame("TRIG", ("1",))] * len(noise)
