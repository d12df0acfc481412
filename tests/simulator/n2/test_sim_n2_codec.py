"""The simulator's line codec against literal frames from the ICD."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.n2.codec import (
    MAX_LINE_BYTES,
    BadChecksum,
    Line,
    LineDecoder,
    SyntaxFault,
    checksum,
    encode,
)


def test_the_icd_example() -> None:
    assert checksum(b"HB,17") == "20"
    assert encode("HB,17") == b"$HB,17*20\r\n"
    assert LineDecoder().feed(b"$HB,17*20\r\n") == [Line("HB,17")]


def test_checksum_is_upper_case_hex_of_the_xor() -> None:
    assert checksum(b"") == "00"
    assert checksum(b"\x0a\x0b") == "01"
    assert checksum(b"OK,STAT") == f"{0x4F ^ 0x4B ^ 0x2C ^ 0x53 ^ 0x54 ^ 0x41 ^ 0x54:02X}"
    assert checksum(b"ID") == "0D"


def test_bytes_before_dollar_are_ignored() -> None:
    dec = LineDecoder()
    assert dec.feed(b"\x00\xffnoise\r\n$ID*0D\r\n") == [Line("ID")]
    assert dec.noise_bytes == 9


def test_a_line_may_arrive_in_pieces() -> None:
    dec = LineDecoder()
    assert dec.feed(b"$H") == []
    assert dec.feed(b"B,17*2") == []
    assert dec.feed(b"0\r") == []
    assert dec.feed(b"\n") == [Line("HB,17")]


def test_a_new_dollar_silently_drops_an_unfinished_line() -> None:
    assert LineDecoder().feed(b"$OPEN,50$HB,17*20\r\n") == [Line("HB,17")]


def test_bad_missing_and_lower_case_checksums_are_chk() -> None:
    dec = LineDecoder()
    assert dec.feed(b"$HB,17*21\r\n") == [BadChecksum("HB")]
    assert dec.feed(b"$HB,17\r\n") == [BadChecksum("HB")]
    assert dec.feed(b"$ID*0d\r\n") == [BadChecksum("ID")]
    assert dec.feed(b"$ID*0\r\n") == [BadChecksum("ID")]
    assert dec.feed(b"$ID*0DD\r\n") == [BadChecksum("ID")]


def test_lf_without_cr_is_a_syntax_fault() -> None:
    (item,) = LineDecoder().feed(b"$ID*0D\n")
    assert isinstance(item, SyntaxFault)


def test_non_ascii_body_with_a_good_checksum_is_a_syntax_fault() -> None:
    body = b"HB,\x80"
    (item,) = LineDecoder().feed(b"$" + body + b"*" + checksum(body).encode() + b"\r\n")
    assert isinstance(item, SyntaxFault)


def test_96_bytes_is_a_line_97_is_too_long() -> None:
    body_96 = "HB," + "1" * (MAX_LINE_BYTES - 6 - 3)
    line_96 = encode(body_96)
    assert len(line_96) == MAX_LINE_BYTES
    assert LineDecoder().feed(line_96) == [Line(body_96)]
    body_97 = body_96 + "1"
    line_97 = b"$" + body_97.encode() + b"*" + checksum(body_97.encode()).encode() + b"\r\n"
    dec = LineDecoder()
    out = dec.feed(line_97 + b"$ID*0D\r\n")
    assert len(out) == 2
    assert isinstance(out[0], SyntaxFault)
    assert out[1] == Line("ID")


def test_over_long_line_is_answered_once_and_the_rest_ignored() -> None:
    out = LineDecoder().feed(b"$" + b"X" * 300 + b"\r\n")
    assert len(out) == 1
    assert isinstance(out[0], SyntaxFault)


def test_encode_refuses_lines_the_unit_may_not_send() -> None:
    try:
        encode("X" * 100)
    except ValueError as exc:
        assert "exceeds" in str(exc)
    else:
        raise AssertionError("an over-long line was encoded")


def test_corrupt_spoils_only_the_checksum() -> None:
    good, bad = encode("EV,LEASE"), encode("EV,LEASE", corrupt=True)
    assert good[:-4] == bad[:-4] and good[-4:] != bad[-4:]
    assert LineDecoder().feed(bad) == [BadChecksum("EV")]


_BODY = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$*"),
    max_size=MAX_LINE_BYTES - 6,
)


@settings(max_examples=150)
@given(_BODY)
def test_roundtrip(body: str) -> None:
    assert LineDecoder().feed(encode(body)) == [Line(body)]


@settings(max_examples=150)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=10))
def test_any_bytes_in_any_pieces_decode_the_same(data: bytes, cuts: list[int]) -> None:
    whole = LineDecoder().feed(data)
    dec, pieces, rest = LineDecoder(), [], data
    for cut in cuts:
        pieces.extend(dec.feed(rest[:cut]))
        rest = rest[cut:]
    pieces.extend(dec.feed(rest))
    assert pieces == whole
    assert len(whole) <= data.count(b"\n") + len(data) // MAX_LINE_BYTES
