"""Every fault bit: its cause, its latch, its clear rule, its event; and the link faults."""

from __future__ import annotations

import pytest
from sim_n2_bench import Bench, frame, unframe


def _open(b: Bench) -> None:
    b.start()
    assert b.ask("WDT,5000") == "OK,WDT,5000"
    assert b.ask("OPEN,500") == "OK,OPEN,500"


def test_level_empty_below_5_pct_latches_until_refilled() -> None:
    b = Bench()
    _open(b)
    b.unit.set_level(4.9)
    assert b.events() == ["EV,FAULT,0002"]
    assert b.stat()[0] == "0" and b.stat()[5] == "4"
    assert b.ask("OPEN,100") == "ER,OPEN,ILK"
    assert b.tx("RESET") == ["OK,RESET"]
    b.unit.set_level(5.0)
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


def test_the_dewar_runs_empty_while_spraying() -> None:
    b = Bench()
    b.start()
    b.unit.set_nozzle("M")
    b.events()
    b.unit.set_level(5.2)
    b.tx("OPEN,500")
    events = b.wait(0.45)
    b.tx("OPEN,500")
    events += b.wait(0.45)
    assert events == ["EV,FAULT,0002"]
    assert b.stat()[0] == "0"
    assert b.unit.state()["valve_history"][-1]["why"] == "fault:LEVEL_EMPTY"


def test_overpressure_from_a_failed_regulator() -> None:
    b = Bench()
    _open(b)
    b.unit.set_fault("OVERPRESSURE", True)
    assert b.events() == ["EV,FAULT,0004"]
    assert b.stat()[0] == "0"
    b.wait(3.0)
    assert int(b.stat()[4]) > 180
    b.unit.set_fault("OVERPRESSURE", False)
    assert b.tx("RESET") == ["OK,RESET"]  # the pressure is still above 180 kPa
    b.wait(0.5)
    assert int(b.stat()[4]) <= 180
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


def test_valve_mismatch_sticks_the_valve_where_it_is() -> None:
    b = Bench()
    _open(b)
    b.unit.set_fault("VALVE_MISMATCH", True)
    assert b.events() == ["EV,FAULT,0008"]
    state = b.unit.state()
    assert state["valve_open"] and not state["valve_commanded"]
    assert b.stat()[0] == "1"
    level = b.unit.state()["level_pct"]
    b.wait(1.0)
    assert b.unit.state()["level_pct"] < level  # stuck open: LN2 keeps flowing
    assert b.tx("RESET") == ["OK,RESET"]
    b.unit.set_fault("VALVE_MISMATCH", False)
    assert b.stat()[0] == "0"
    assert b.unit.state()["valve_history"][-1]["why"] == "valve follows again"
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


@pytest.mark.parametrize(("value", "tip_c10"), [(None, "3000"), (-250.0, "-2500"), (60.1, "601")])
def test_tip_sensor_out_of_range(value: float | None, tip_c10: str) -> None:
    b = Bench()
    _open(b)
    b.unit.set_fault("TIP_SENSOR", True, value)
    assert b.events() == ["EV,FAULT,0010"]
    assert b.stat()[6] == tip_c10
    b.unit.set_fault("TIP_SENSOR", False)
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


def test_tip_sensor_edges_are_in_range() -> None:
    for value in (-200.0, 60.0):
        b = Bench()
        b.start()
        b.unit.set_fault("TIP_SENSOR", True, value)
        assert b.events() == ["EV,FAULT,0010"]  # the injected cause holds the bit
        b.unit.set_fault("TIP_SENSOR", False)
        assert b.tx("RESET")[-1] == "EV,FAULT,0000"


def test_o2_low_clears_only_at_or_above_19_5() -> None:
    b = Bench()
    _open(b)
    b.unit.set_o2(19.4)
    assert b.events() == ["EV,FAULT,0040"]
    assert b.stat()[7] == "194"
    b.unit.set_o2(19.49)
    assert b.tx("RESET") == ["OK,RESET"]
    b.unit.set_o2(19.5)
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


def test_injected_watchdog_holds_until_withdrawn() -> None:
    b = Bench()
    b.start()
    b.unit.set_fault("WATCHDOG", True)
    assert b.events() == ["EV,FAULT,0001"]
    assert b.tx("RESET") == ["OK,RESET"]
    b.unit.set_fault("WATCHDOG", False)
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]


def test_every_change_of_the_bits_is_an_event_and_reset_clears_only_what_has_gone() -> None:
    b = Bench()
    b.start()
    b.unit.set_o2(18.0)
    b.unit.set_level(1.0)
    assert b.events() == ["EV,FAULT,0040", "EV,FAULT,0042"]
    b.unit.set_o2(20.9)
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0002"]
    assert b.stat()[8] == "0002"


def test_drop_all_reads_every_frame_and_acts_on_none() -> None:
    b = Bench()
    b.start()
    b.unit.set_fault("drop_all", True)
    assert b.tx("HB,1", "OPEN,100") == []
    assert b.wait(1.0) == []  # the watchdog starved; its event was lost on the link too
    b.unit.set_fault("drop_all", False)
    assert b.stat()[0] == "0" and b.stat()[8] == "0001"
    counters = b.unit.state()["counters"]
    assert counters["dropped"] == 3 and counters["frames_in"] >= 6


def test_corrupt_spoils_that_share_of_checksums() -> None:
    b = Bench()
    b.start()
    b.unit.set_fault("corrupt", True, 1.0)
    raw = [o.data for o in b.unit.receive(frame("HB,1"))]
    with pytest.raises(AssertionError, match="bad checksum"):
        unframe(raw[0])
    b.unit.set_fault("corrupt", True, 0.5)
    bad = 0
    for seq in range(400):
        (out,) = b.unit.receive(frame(f"HB,{seq}"))
        try:
            unframe(out.data)
        except AssertionError:
            bad += 1
    assert 140 < bad < 260
    b.unit.set_fault("corrupt", False)
    assert b.ask("HB,9") == "OK,HB,9"


def test_freeze_holds_the_readings_while_physics_runs() -> None:
    b = Bench()
    _open(b)
    b.wait(0.2)
    b.unit.set_fault("freeze", True)
    frozen = b.stat()
    b.wait(0.2)
    assert b.stat() == frozen
    assert b.unit.state()["level_pct"] < int(frozen[5]) + 1
    b.unit.set_fault("freeze", False)
    assert b.stat() != frozen
