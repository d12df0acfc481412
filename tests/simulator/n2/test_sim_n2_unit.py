"""Lease, watchdog, e-stop latch, events and every fault bit, in-process on a manual clock."""

from __future__ import annotations

import pytest
from sim_n2_bench import Bench

from simulator.base import UnsupportedControl
from simulator.n2.unit import N2Config


def test_lease_runs_out_exactly_and_sends_ev_lease() -> None:
    b = Bench()
    b.start()
    assert b.ask("OPEN,100") == "OK,OPEN,100"
    assert b.wait(0.099) == []
    assert b.stat()[0] == "1"
    assert b.wait(0.001) == ["EV,LEASE"]
    assert b.stat()[0] == "0"
    opened, closed = b.unit.state()["valve_history"]
    assert opened == {"t_s": 0.0, "open": True, "why": "OPEN,100"}
    assert closed["why"] == "lease" and closed["due_s"] == pytest.approx(0.1)


def test_a_new_open_renews_the_lease() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,100")
    b.wait(0.08)
    assert b.ask("OPEN,100") == "OK,OPEN,100"
    assert b.wait(0.09) == []
    assert b.wait(0.011) == ["EV,LEASE"]
    history = b.unit.state()["valve_history"]
    assert [h["open"] for h in history] == [True, False]


def test_a_jump_past_the_deadline_acts_late_and_says_when_it_was_due() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,50")
    assert b.wait(0.3) == ["EV,LEASE"]
    closed = b.unit.state()["valve_history"][-1]
    assert closed["t_s"] == pytest.approx(0.3) and closed["due_s"] == pytest.approx(0.05)


def test_close_ends_the_lease_without_ev_lease() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,100")
    assert b.ask("CLOSE") == "OK,CLOSE"
    assert b.wait(0.2) == []
    assert b.unit.state()["valve_history"][-1]["why"] == "CLOSE"


def test_watchdog_runs_from_power_on_and_reset_restarts_it() -> None:
    b = Bench()
    assert b.wait(0.999) == []
    assert b.wait(0.001) == ["EV,FAULT,0001"]
    assert b.stat()[8] == "0001"
    assert b.ask("OPEN,100") == "ER,OPEN,ILK"
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]
    assert b.ask("OPEN,100") == "OK,OPEN,100"


def test_watchdog_closes_an_open_valve_at_wdt() -> None:
    b = Bench()
    b.tx("WDT,100", "RESET")
    b.tx("OPEN,500")
    assert b.wait(0.1) == ["EV,FAULT,0001"]
    closed = b.unit.state()["valve_history"][-1]
    assert closed == {
        "t_s": pytest.approx(0.1),
        "open": False,
        "why": "fault:WATCHDOG",
        "due_s": pytest.approx(0.1),
    }


def test_lease_and_watchdog_due_together_lease_first() -> None:
    b = Bench()
    b.tx("WDT,200", "RESET")
    b.tx("OPEN,100")
    assert b.wait(0.5) == ["EV,LEASE", "EV,FAULT,0001"]


def test_estop_latches_closes_and_reset_clears_only_when_released() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,500")
    b.unit.set_estop(True)
    assert b.events() == ["EV,ESTOP,1"]
    assert b.stat()[:3] == ["0", "0", "1"]
    assert b.unit.state()["valve_history"][-1]["why"] == "estop"
    assert b.ask("OPEN,100") == "ER,OPEN,ILK"
    assert b.tx("RESET") == ["OK,RESET"]
    assert b.stat()[2] == "1"
    b.unit.set_estop(False)
    assert b.events() == []
    assert b.stat()[2] == "1"
    assert b.tx("RESET") == ["OK,RESET", "EV,ESTOP,0"]
    assert b.ask("OPEN,100") == "OK,OPEN,100"


def test_reset_never_opens_the_valve() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,100")
    b.unit.set_estop(True)
    b.unit.set_estop(False)
    b.tx("RESET")
    assert b.stat()[0] == "0"


def test_trigger_and_nozzle_events() -> None:
    b = Bench()
    b.unit.set_trigger(True)
    b.unit.set_trigger(True)
    b.unit.set_trigger(False)
    b.unit.set_nozzle("M")
    b.unit.set_nozzle("M")
    b.unit.set_nozzle(None)
    assert b.events() == ["EV,TRIG,1", "EV,TRIG,0", "EV,NOZZLE,M", "EV,NOZZLE,-"]
    with pytest.raises(ValueError, match="nozzle"):
        b.unit.set_nozzle("Z")


def test_no_nozzle_is_an_interlock() -> None:
    b = Bench(N2Config(nozzle="-"))
    b.start()
    assert b.stat()[3] == "-"
    assert b.ask("OPEN,100") == "ER,OPEN,ILK"
    b.unit.set_nozzle("P")
    assert b.ask("OPEN,100") == "OK,OPEN,100"


def test_nozzle_lost_while_open_latches_until_a_nozzle_is_back() -> None:
    b = Bench()
    b.start()
    b.tx("OPEN,200")
    b.unit.set_nozzle(None)
    assert b.events() == ["EV,NOZZLE,-", "EV,FAULT,0020"]
    assert b.stat()[0] == "0"
    assert b.tx("RESET") == ["OK,RESET"]
    b.unit.set_nozzle("B")
    assert b.events() == ["EV,NOZZLE,B"]
    assert b.tx("RESET") == ["OK,RESET", "EV,FAULT,0000"]
    assert b.ask("OPEN,100") == "OK,OPEN,100"


def test_removing_a_nozzle_while_closed_is_no_fault() -> None:
    b = Bench()
    b.start()
    b.unit.set_nozzle(None)
    assert b.events() == ["EV,NOZZLE,-"]
    assert b.stat()[8] == "0000"


def test_unit_refuses_controls_it_does_not_have() -> None:
    b = Bench()
    with pytest.raises(UnsupportedControl) as info:
        b.unit.set_hose(True)
    assert info.value.field == "hose"
    with pytest.raises(UnsupportedControl):
        b.unit.set_skin(True)
    with pytest.raises(ValueError, match="unknown fault"):
        b.unit.set_fault("HOSE_OFF", True)
    with pytest.raises(ValueError):
        b.unit.set_level(101)
    with pytest.raises(ValueError):
        b.unit.set_o2(-1)


def test_the_unit_is_a_sim_unit_and_runs_in_process_on_an_injected_clock() -> None:
    from simulator.base import ManualClock, SimUnit
    from simulator.n2 import N2Unit

    clock = ManualClock()
    unit = N2Unit(clock=clock)
    assert isinstance(unit, SimUnit)
    unit.advance(0.5)
    assert unit.state()["t_s"] == 0.5
    unit.advance(0.2)  # time does not run backwards
    assert unit.state()["t_s"] == 0.5
    unit.advance(1.0)
    assert [line.data for line in unit.take_output()] == [b"$EV,FAULT,0001*58\r\n"]
