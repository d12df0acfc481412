"""Garbage, truncated and over-long lines, and 10 000 random frames: the document's answer
every time, and a unit that never dies."""

from __future__ import annotations

import random
import re
import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from sim_n2_bench import Bench, LineClient, frame, split_lines, unframe

from simulator.n2.fixtures import N2Handle

KNOWN = {"ID", "HB", "WDT", "PRESS", "OPEN", "CLOSE", "STAT", "RESET"}
RANGES = {"WDT": (100, 5000), "PRESS": (20, 150), "OPEN": (20, 500)}
_STAT_RE = re.compile(r"OK,STAT,[01],[01],1,[ABCDMP-],\d+,\d+,-?\d+,\d+,[0-9A-F]{4}")


def expected(body: bytes, checksum_ok: bool) -> str:
    """The ICD's answer to one complete line while the e-stop latch is set (oracle)."""
    line_len = len(body) + 6
    if line_len > 96:
        return "ER,?,SYN"
    if not checksum_ok:
        first = body.split(b",")[0].decode("latin-1")
        return f"ER,{first if first in KNOWN else '?'},CHK"
    if any(b < 0x20 or b > 0x7E for b in body):
        return "ER,?,SYN"
    name, *args = body.decode().split(",")
    if not name:
        return "ER,?,SYN"
    if name not in KNOWN:
        return f"ER,{name if re.fullmatch(r'[A-Z0-9]{1,16}', name) else '?'},UNK"
    if name in ("ID", "CLOSE", "STAT", "RESET"):
        if args:
            return f"ER,{name},SYN"
        return {"ID": "OK,ID,N2-CRYO,SIM00001,C.1.0", "CLOSE": "OK,CLOSE"}.get(name, name)
    if len(args) != 1:
        return f"ER,{name},SYN"
    (text,) = args
    if name == "HB":
        if not re.fullmatch(r"[0-9]{1,10}", text):
            return "ER,HB,SYN"
        return "OK,HB," + text if int(text) < 2**32 else "ER,HB,RNG"
    if not re.fullmatch(r"-?[0-9]{1,9}", text):
        return f"ER,{name},SYN"
    low, high = RANGES[name]
    if not low <= int(text) <= high:
        return f"ER,{name},RNG"
    return "ER,OPEN,ILK" if name == "OPEN" else f"OK,{name},{int(text)}"


def _random_body(rng: random.Random) -> bytes:
    roll = rng.random()
    name = rng.choice(sorted(KNOWN))
    if rng.random() < 0.2:
        name = rng.choice(["FOO", "hb", "", "X" * rng.randint(1, 20), "OPEN\x01"])
    if roll < 0.1:
        return bytes(rng.randrange(0x20, 0x7F) for _ in range(rng.randint(0, 100))).replace(
            b"$", b"#"
        )
    if roll < 0.15:
        return bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 20))).translate(
            None, b"$\n"
        )
    n_args = int(name in RANGES or name == "HB")
    if rng.random() < 0.2:
        n_args = rng.choice([0, 1, 2])
    values = [
        rng.choice(
            [
                str(rng.randint(*RANGES.get(name, (0, 9999)))),
                str(rng.randint(*RANGES.get(name, (0, 9999)))),
                str(rng.randint(-10, 6000)),
                str(rng.randint(0, 2**33)),
                "0" * rng.randint(1, 4) + str(rng.randint(0, 200)),
                rng.choice(["", "x", " 5", "1.5", "+5", "*", "-"]),
            ]
        )
        for _ in range(n_args)
    ]
    return ",".join([name, *values]).encode("latin-1")


def _random_frame(rng: random.Random) -> tuple[bytes, str]:
    body = _random_body(rng)
    ck = 0
    for b in body:
        ck ^= b
    checksum_ok = rng.random() > 0.15
    shown = ck if checksum_ok else (ck ^ rng.randint(1, 255))
    ck_text = f"{shown:02X}".encode()
    if not checksum_ok and rng.random() < 0.3:
        ck_text = rng.choice(
            [f"{ck:02x}".encode() if f"{ck:02x}" != f"{ck:02X}" else b"G0", b"", b"1"]
        )
    noise = bytes(rng.choice(b"abc \r\n\x00\xff") for _ in range(rng.choice([0, 0, 3])))
    data = noise + b"$" + body + b"*" + ck_text + b"\r\n"
    return data, expected(body, checksum_ok)


def _check_batch(frames: list[tuple[bytes, str]], answers: list[str]) -> None:
    for (data, want), got in zip(frames, answers, strict=True):
        if want == "STAT":
            assert _STAT_RE.fullmatch(got), (data, got)
        elif want == "RESET":
            assert got == "OK,RESET", (data, got)
        else:
            assert got == want, (data, got)


def test_10000_random_frames_over_tcp(n2_factory) -> None:
    h: N2Handle = n2_factory("tcp", control=False)
    rng = random.Random(20261122)
    h.unit.set_estop(True)
    with socket.create_connection((h.host, h.port), timeout=5) as s:
        reader = s.makefile("rb")
        for _batch in range(50):
            frames = [_random_frame(rng) for _ in range(200)]
            s.sendall(b"".join(data for data, _ in frames))
            answers: list[str] = []
            while len(answers) < len(frames):
                line = unframe(reader.readline())
                if not line.startswith("EV,"):
                    answers.append(line)
            _check_batch(frames, answers)
        s.sendall(frame("ID"))
        assert unframe(reader.readline()) == "OK,ID,N2-CRYO,SIM00001,C.1.0"
        reader.close()
    counters = h.unit.state()["counters"]
    assert counters["frames_in"] == 10_001
    assert 2000 < counters["errors"] < 8000  # both kinds of answer were exercised
    print(f"counters after 10 000 random frames: {counters}")


def test_2000_random_frames_over_the_pty(n2_factory) -> None:
    h: N2Handle = n2_factory("pty", control=False)
    assert h.path is not None
    rng = random.Random(7)
    h.unit.set_estop(True)
    with LineClient(h.path, timeout_s=5) as c:
        for _batch in range(50):  # small batches: a pty holds about 4 KB each way
            frames = [_random_frame(rng) for _ in range(40)]
            c.port.write(b"".join(data for data, _ in frames))
            _check_batch(frames, [c.answer() for _ in frames])
        assert c.ask("ID") == "OK,ID,N2-CRYO,SIM00001,C.1.0"
    assert h.unit.state()["counters"]["frames_in"] == 2001


def test_garbage_truncated_and_over_long_lines_on_the_pty(n2_pty: N2Handle) -> None:
    assert n2_pty.path is not None
    with LineClient(n2_pty.path) as c:
        c.port.write(bytes(range(256)).replace(b"$", b"") * 4)
        assert c.ask("HB,1") == "OK,HB,1"
        c.port.write(b"$OPEN,10")  # truncated: the host gave up on it
        assert c.ask("HB,2") == "OK,HB,2"
        c.port.write(b"$" + b"9" * 500 + b"\r\n")
        assert c.answer() == "ER,?,SYN"
        assert c.ask("HB,3") == "OK,HB,3"
        c.port.write(b"$HB,4*" + b"\r\n")
        assert c.answer() == "ER,HB,CHK"
        assert c.ask("ID").startswith("OK,ID,")
    assert n2_pty.unit.state()["counters"]["noise_bytes"] >= 255 * 4


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_in_process_give_only_well_framed_answers(data: bytes) -> None:
    b = Bench()
    out = b.send(data)
    assert all(line.startswith(("OK,", "ER,", "EV,")) for line in out)
    assert len(out) <= data.count(b"\n") + data.count(b"$") + 1
    assert b.ask("HB,1") == "OK,HB,1"


def test_split_lines_helper_rejects_a_bad_line() -> None:
    assert split_lines(frame("OK,HB,1") + frame("EV,LEASE")) == ["OK,HB,1", "EV,LEASE"]
