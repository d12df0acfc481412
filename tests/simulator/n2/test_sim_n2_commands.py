"""Every row of the ICD's command table and error list, in-process on a manual clock."""

from __future__ import annotations

import pytest
from sim_n2_bench import Bench, frame

from simulator.n2.unit import N2Config


def test_id_answers_model_serial_fw() -> None:
    assert Bench().ask("ID") == "OK,ID,N2-CRYO,SIM00001,C.1.0"
    assert Bench(N2Config(serial="SN42")).ask("ID") == "OK,ID,N2-CRYO,SN42,C.1.0"


def test_id_fields_that_cannot_travel_are_refused() -> None:
    with pytest.raises(ValueError, match="serial"):
        N2Config(serial="A,B")


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("HB,17", "OK,HB,17"),
        ("HB,0", "OK,HB,0"),
        ("HB,007", "OK,HB,007"),
        ("HB,4294967295", "OK,HB,4294967295"),
        ("HB,4294967296", "ER,HB,RNG"),
        ("HB,-1", "ER,HB,SYN"),
        ("HB,x", "ER,HB,SYN"),
        ("HB", "ER,HB,SYN"),
        ("HB,", "ER,HB,SYN"),
        ("HB,1,2", "ER,HB,SYN"),
        ("WDT,99", "ER,WDT,RNG"),
        ("WDT,100", "OK,WDT,100"),
        ("WDT,0100", "OK,WDT,100"),
        ("WDT,5000", "OK,WDT,5000"),
        ("WDT,5001", "ER,WDT,RNG"),
        ("WDT,-100", "ER,WDT,RNG"),
        ("WDT,1.5", "ER,WDT,SYN"),
        ("WDT", "ER,WDT,SYN"),
        ("PRESS,19", "ER,PRESS,RNG"),
        ("PRESS,20", "OK,PRESS,20"),
        ("PRESS,150", "OK,PRESS,150"),
        ("PRESS,151", "ER,PRESS,RNG"),
        ("PRESS, 50", "ER,PRESS,SYN"),
        ("OPEN,19", "ER,OPEN,RNG"),
        ("OPEN,501", "ER,OPEN,RNG"),
        ("OPEN,abc", "ER,OPEN,SYN"),
        ("OPEN", "ER,OPEN,SYN"),
        ("CLOSE", "OK,CLOSE"),
        ("CLOSE,1", "ER,CLOSE,SYN"),
        ("ID,1", "ER,ID,SYN"),
        ("STAT,1", "ER,STAT,SYN"),
        ("RESET,1", "ER,RESET,SYN"),
        ("RESET", "OK,RESET"),
        ("FOO", "ER,FOO,UNK"),
        ("hb,1", "ER,?,UNK"),
        ("", "ER,?,SYN"),
        (",1", "ER,?,SYN"),
    ],
)
def test_answers_by_the_table(body: str, answer: str) -> None:
    b = Bench()
    b.start()
    assert b.ask(body) == answer


@pytest.mark.parametrize("lease_ms", [20, 500])
def test_open_accepts_the_lease_range_edges(lease_ms: int) -> None:
    b = Bench()
    b.start()
    assert b.ask(f"OPEN,{lease_ms}") == f"OK,OPEN,{lease_ms}"
    assert b.stat()[0] == "1"


def test_bad_checksum_names_a_known_command_or_question_mark() -> None:
    b = Bench()
    assert b.send(b"$HB,17*21\r\n") == ["ER,HB,CHK"]
    assert b.send(b"$OPEN,100\r\n") == ["ER,OPEN,CHK"]
    assert b.send(b"$XYZ,1*00\r\n") == ["ER,?,CHK"]
    assert b.send(b"$\x01\x02*00\r\n") == ["ER,?,CHK"]
    assert b.unit.state()["counters"]["chk_errors"] == 4


def test_a_line_with_a_bad_checksum_is_dropped_not_acted_on() -> None:
    b = Bench()
    b.start()
    good = frame("OPEN,100")
    assert b.send(good[:-4] + b"00\r\n") == ["ER,OPEN,CHK"]
    assert b.stat()[0] == "0"


def test_over_long_and_lf_only_lines_are_syn() -> None:
    b = Bench()
    assert b.send(b"$HB," + b"1" * 120 + b"*00\r\n") == ["ER,?,SYN"]
    assert b.send(b"$ID*0D\n") == ["ER,?,SYN"]
    assert b.send(b"garbage without a dollar\r\n") == []


def test_stat_fields() -> None:
    b = Bench()
    b.start()
    valve, trigger, estop, nozzle, press, level, tip, o2, faults = b.stat()
    assert (valve, trigger, estop, nozzle) == ("0", "0", "0", "A")
    assert (press, level, tip, o2, faults) == ("50", "100", "220", "209", "0000")
    b.unit.set_trigger(True)
    b.tx("OPEN,200")
    assert b.stat()[:3] == ["1", "1", "0"]


def test_only_valid_commands_feed_the_watchdog() -> None:
    b = Bench()
    b.start()
    b.wait(0.9)
    b.tx("FOO", "WDT,1", "HB,x")
    b.send(b"$HB,1*00\r\n")
    assert b.wait(0.11) == ["EV,FAULT,0001"]
    b2 = Bench()
    b2.start()
    b2.wait(0.9)
    b2.unit.set_estop(True)
    b2.events()
    assert b2.ask("OPEN,100") == "ER,OPEN,ILK"  # refused, yet the host spoke correctly
    assert b2.wait(0.11) == []
    b2.tx("HB,1")
    assert b2.wait(0.99) == []
    assert b2.wait(0.02) == ["EV,FAULT,0001"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": ""},
        {"fw": "1*2"},
        {"serial": "S" * 90},
        {"nozzle": "Z"},
        {"wdt_ms": 99},
        {"press_kpa": 151},
    ],
)
def test_config_refuses_what_the_unit_could_not_be(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        N2Config(**kwargs)  # type: ignore[arg-type]
