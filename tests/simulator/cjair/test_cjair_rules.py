"""The CJ-Air unit's own rules, in process with a manual clock: every latch and clear rule."""

from __future__ import annotations

import pytest

from simulator.base import ManualClock
from simulator.cjair.registers import NO_READING, Coil, FaultBit, Holding
from simulator.cjair.unit import CjAirUnit


class Bench:
    """A unit on a manual clock, and the host's register writes."""

    def __init__(self, **options: object) -> None:
        self.clock = ManualClock()
        self.unit = CjAirUnit(clock=self.clock, **options)  # type: ignore[arg-type]
        self.heartbeat = 0

    def run(self, seconds: float, *, dt_s: float = 0.01, beat: bool = False) -> None:
        """Let time pass in small steps (as the server's timers would), beating if asked."""
        end = self.clock() + seconds
        while self.clock() < end - 1e-9:
            self.clock.advance(min(dt_s, end - self.clock()))
            if beat:
                self.beat()
            self.unit.advance()

    def coil(self, coil: Coil, on: bool = True) -> None:
        self.unit.advance()
        self.unit.write_coil(coil, on)

    def reg(self, which: Holding, value: int) -> None:
        self.unit.advance()
        raw = value & 0xFFFF
        assert self.unit.holding_ok(which, raw)
        self.unit.write_holding(which, raw)

    def beat(self) -> None:
        self.heartbeat = (self.heartbeat + 1) & 0xFFFF
        self.reg(Holding.HEARTBEAT, self.heartbeat)

    def arm(self) -> None:
        """The ICD's start-up recipe: heartbeat, then FAULT_RESET."""
        self.beat()
        self.coil(Coil.FAULT_RESET)
        assert self.faults() == []

    def open(self) -> None:
        self.coil(Coil.OUTLET_OPEN, True)

    def faults(self) -> list[str]:
        return self.unit.state()["faults"]

    def di(self, name: str) -> bool:
        return bool(self.unit.state()["discretes"][name])

    def ir(self, name: str) -> int:
        return int(self.unit.state()["inputs"][name])

    def coil_reads(self, name: str) -> bool:
        return bool(self.unit.state()["coils"][name])


def test_watchdog_runs_from_power_on() -> None:
    bench = Bench()
    bench.run(0.99)
    assert not bench.di("WATCHDOG_TRIPPED")
    bench.run(0.02)
    assert bench.di("WATCHDOG_TRIPPED") and bench.di("FAULT")
    assert bench.ir("FAULT_BITS") == 1 << FaultBit.WATCHDOG


def test_an_unchanged_heartbeat_is_no_heartbeat() -> None:
    bench = Bench()
    bench.run(0.5)
    bench.reg(Holding.HEARTBEAT, 0)  # the value it already holds
    bench.run(0.51)
    assert bench.di("WATCHDOG_TRIPPED")
    assert bench.ir("HEARTBEAT_ECHO") == 0


def test_heartbeats_hold_the_watchdog_off_and_fault_reset_restarts_its_window() -> None:
    bench = Bench()
    bench.reg(Holding.WATCHDOG_MS, 200)
    bench.run(0.5)
    assert bench.faults() == ["WATCHDOG"]
    bench.arm()
    bench.run(0.19)
    assert not bench.di("WATCHDOG_TRIPPED")
    bench.run(0.02)
    assert bench.di("WATCHDOG_TRIPPED")
    bench.arm()
    bench.run(2.0, beat=True)
    assert bench.faults() == []
    assert bench.ir("HEARTBEAT_ECHO") == bench.heartbeat


def test_outlet_opens_only_when_nothing_interlocks_and_reads_back_zero_otherwise() -> None:
    bench = Bench()
    bench.run(1.1)  # tripped from power-on
    bench.open()
    assert not bench.coil_reads("OUTLET_OPEN") and not bench.unit.state()["valve_drive_open"]
    bench.arm()
    bench.open()
    assert bench.coil_reads("OUTLET_OPEN")
    assert not bench.di("OUTLET_OPEN_FB")  # the valve takes its lag to move
    bench.run(0.05, beat=True)
    assert bench.di("OUTLET_OPEN_FB")
    assert bench.ir("AIRFLOW_ACTUAL") == 30
    assert bench.ir("OUTLET_OPEN_MS") >= 40
    bench.coil(Coil.OUTLET_OPEN, False)
    bench.run(0.05, beat=True)
    assert not bench.di("OUTLET_OPEN_FB") and bench.ir("AIRFLOW_ACTUAL") == 0
    assert bench.ir("OUTLET_OPEN_MS") == 0
    history = bench.unit.state()["valve_history"]
    assert [(h["open"], h["why"]) for h in history] == [(True, "host"), (False, "host")]


def test_watchdog_closes_an_open_outlet() -> None:
    bench = Bench()
    bench.arm()
    bench.open()
    bench.run(0.99)
    assert bench.unit.state()["valve_drive_open"]
    bench.run(0.02)
    state = bench.unit.state()
    assert not state["valve_drive_open"] and not state["coils"]["OUTLET_OPEN"]
    assert state["valve_history"][-1]["why"] == "fault:WATCHDOG"


def test_max_open_ms_caps_one_opening_and_latches_open_cap() -> None:
    bench = Bench()
    bench.reg(Holding.MAX_OPEN_MS, 500)
    bench.arm()
    bench.open()
    bench.run(0.49, beat=True)
    assert bench.coil_reads("OUTLET_OPEN")
    bench.run(0.02, beat=True)
    assert bench.faults() == ["OPEN_CAP"]
    assert not bench.coil_reads("OUTLET_OPEN")
    opened, closed = bench.unit.state()["valve_history"][-2:]
    assert closed["t_s"] - opened["t_s"] == pytest.approx(0.5, abs=0.011)
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == []
    assert not bench.coil_reads("OUTLET_OPEN")  # a reset never reopens


@pytest.mark.parametrize("step_s", [0.013, 0.37, 5.0])
def test_the_cap_closes_at_the_cap_however_coarsely_time_moves(step_s: float) -> None:
    """The unit closes at MAX_OPEN_MS of its own time, not when it is next looked at."""
    bench = Bench(watchdog_ms=5000)
    bench.reg(Holding.MAX_OPEN_MS, 600)
    bench.arm()
    bench.open()
    bench.run(3.0, dt_s=step_s)
    opened, closed = bench.unit.state()["valve_history"][-2:]
    assert (opened["open"], closed["open"], closed["why"]) == (True, False, "fault:OPEN_CAP")
    assert closed["t_s"] - opened["t_s"] == pytest.approx(0.6, abs=1e-9)
    assert bench.faults() == ["OPEN_CAP"]
    assert bench.ir("OUTLET_OPEN_MS") == 0 and bench.ir("AIRFLOW_ACTUAL") == 0


def test_max_open_ms_is_writable_between_openings() -> None:
    bench = Bench(watchdog_ms=5000)
    for cap_ms in (500, 1200, 800):
        bench.reg(Holding.MAX_OPEN_MS, cap_ms)
        bench.coil(Coil.FAULT_RESET)
        assert bench.faults() == []
        bench.open()
        bench.run(cap_ms / 1000 + 0.5, dt_s=0.1, beat=True)
        opened, closed = bench.unit.state()["valve_history"][-2:]
        assert closed["why"] == "fault:OPEN_CAP"
        assert closed["t_s"] - opened["t_s"] == pytest.approx(cap_ms / 1000, abs=1e-9)


def test_a_shorter_opening_than_the_cap_is_not_capped() -> None:
    bench = Bench(watchdog_ms=5000)
    bench.reg(Holding.MAX_OPEN_MS, 600)
    bench.arm()
    for _ in range(3):  # the cap counts one continuous opening, not their sum
        bench.open()
        bench.run(0.5, dt_s=0.25, beat=True)
        bench.coil(Coil.OUTLET_OPEN, False)
        bench.run(0.1, beat=True)
    assert bench.faults() == []
    assert [h["why"] for h in bench.unit.state()["valve_history"]] == ["host"] * 6


def test_the_watchdog_trips_at_its_lapse_however_coarsely_time_moves() -> None:
    bench = Bench()
    bench.reg(Holding.WATCHDOG_MS, 300)
    bench.arm()
    bench.open()
    beat_s = bench.clock()
    bench.run(2.0, dt_s=2.0)
    closed = bench.unit.state()["valve_history"][-1]
    assert closed["why"] == "fault:WATCHDOG"
    assert closed["t_s"] - beat_s == pytest.approx(0.3, abs=1e-9)


def test_estop_latches_until_released_and_reset_and_reset_never_opens() -> None:
    bench = Bench()
    bench.arm()
    bench.open()
    bench.run(0.05, beat=True)
    bench.unit.set_estop(True)
    assert bench.di("ESTOP_ACTIVE") and not bench.coil_reads("OUTLET_OPEN")
    assert bench.unit.state()["valve_history"][-1]["why"] == "estop"
    bench.coil(Coil.ESTOP_RESET)
    assert bench.di("ESTOP_ACTIVE")  # still pressed
    bench.unit.set_estop(False)
    bench.run(0.05, beat=True)
    assert bench.di("ESTOP_ACTIVE")  # released but not reset
    bench.open()
    assert not bench.coil_reads("OUTLET_OPEN")
    bench.coil(Coil.ESTOP_RESET)
    assert not bench.di("ESTOP_ACTIVE")
    assert not bench.coil_reads("ESTOP_RESET") and not bench.coil_reads("OUTLET_OPEN")
    assert bench.faults() == []  # the e-stop is no fault bit


def test_hose_lost_only_while_open_and_clears_once_reconnected() -> None:
    bench = Bench()
    bench.arm()
    bench.unit.set_hose(False)
    assert not bench.di("HOSE_CONNECTED") and bench.faults() == []
    bench.open()
    assert not bench.coil_reads("OUTLET_OPEN")
    bench.unit.set_hose(True)
    bench.open()
    bench.run(0.05, beat=True)
    bench.unit.set_hose(False)
    assert bench.faults() == ["HOSE_LOST"] and not bench.unit.state()["valve_drive_open"]
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == ["HOSE_LOST"]
    bench.unit.set_hose(True)
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == []


def test_nozzle_codes_and_a_removed_nozzle_unseats_the_hose() -> None:
    bench = Bench()
    for code, nozzle_id in [("S6", 1), ("R10", 2), ("F20", 3), ("C30", 4), (None, 0)]:
        bench.unit.set_nozzle(code)
        assert bench.ir("NOZZLE_ID") == nozzle_id
        assert bench.di("HOSE_CONNECTED") is (code is not None)
    with pytest.raises(ValueError, match="unknown nozzle"):
        bench.unit.set_nozzle("X1")


def test_temp_sensor_fault_latches_and_clears_once_the_reading_is_back() -> None:
    bench = Bench()
    bench.arm()
    bench.unit.set_fault("TEMP_SENSOR", True)
    assert bench.ir("OUTLET_TEMP") == 850 and bench.faults() == ["TEMP_SENSOR"]
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == ["TEMP_SENSOR"]
    bench.unit.set_fault("TEMP_SENSOR", False)
    assert bench.faults() == ["TEMP_SENSOR"]  # latched until reset
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == []


@pytest.mark.parametrize("setpoint_dc", [-200, -300, -450, -600])
def test_cooler_reaches_ready_in_20_to_90_s(setpoint_dc: int) -> None:
    bench = Bench()
    bench.reg(Holding.TEMP_SETPOINT, setpoint_dc)
    bench.coil(Coil.COOLER_ON)
    bench.run(20.0, dt_s=0.5, beat=True)
    assert not bench.di("COOLER_READY")
    ready_at = None
    for second in range(20, 91):
        bench.run(1.0, dt_s=0.5, beat=True)
        if bench.di("COOLER_READY"):
            ready_at = second
            break
    assert ready_at is not None
    assert (
        abs(bench.ir("OUTLET_TEMP") - (setpoint_dc & 0xFFFF)) <= 30
        or abs((bench.ir("OUTLET_TEMP") - 0x10000) - setpoint_dc) <= 30
    )
    bench.run(40.0, dt_s=0.5, beat=True)
    assert bench.faults() == []


def test_cooler_fault_after_120_s_without_ready() -> None:
    bench = Bench()
    bench.unit.set_fault("COOLER", True)
    bench.coil(Coil.COOLER_ON)
    bench.run(119.5, dt_s=0.5, beat=True)
    assert bench.faults() == []
    bench.run(0.6, dt_s=0.1, beat=True)
    assert bench.faults() == ["COOLER"]
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == ["COOLER"]  # still on and not ready
    bench.coil(Coil.COOLER_ON, False)
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == []


def test_o2_low_clears_only_at_or_above_19_5_pct() -> None:
    bench = Bench()
    bench.arm()
    bench.unit.set_o2(19.4)
    assert bench.faults() == ["O2_LOW"] and bench.ir("O2_PCT") == 194
    bench.unit.set_o2(19.45)
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == ["O2_LOW"]
    bench.unit.set_o2(19.5)
    bench.coil(Coil.FAULT_RESET)
    assert bench.faults() == []
    bench.unit.set_fault("O2_LOW", True)
    assert bench.ir("O2_PCT") == 180 and bench.faults() == ["O2_LOW"]


def test_valve_mismatch_after_more_than_100_ms() -> None:
    bench = Bench()
    bench.arm()
    bench.unit.set_fault("VALVE_MISMATCH", True)  # the valve sticks where it is
    bench.open()
    bench.run(0.1, dt_s=0.005, beat=True)
    assert bench.faults() == []
    bench.run(0.01, dt_s=0.005, beat=True)
    assert bench.faults() == ["VALVE_MISMATCH"]
    assert not bench.di("OUTLET_OPEN_FB")  # stuck closed, so the mismatch is gone...
    bench.unit.set_fault("VALVE_MISMATCH", False)
    bench.coil(Coil.FAULT_RESET)  # ...and the reset clears it
    assert bench.faults() == []


def test_a_slow_valve_trips_valve_mismatch() -> None:
    bench = Bench()
    bench.unit.set_fault("valve_lag", True, 150)
    bench.arm()
    bench.open()
    bench.run(0.2, dt_s=0.01, beat=True)
    assert bench.faults() == ["VALVE_MISMATCH"]


def test_skin_cools_under_flow_rewarms_when_closed_and_reads_nothing_off_skin() -> None:
    bench = Bench()
    bench.reg(Holding.TEMP_SETPOINT, -400)
    bench.coil(Coil.COOLER_ON)
    bench.run(60, dt_s=0.5, beat=True)
    bench.arm()
    bench.reg(Holding.MAX_OPEN_MS, 60000)
    bench.open()
    bench.run(20, dt_s=0.05, beat=True)
    cooled = bench.ir("SKIN_TEMP")
    assert cooled < 150  # well below 15 °C
    bench.coil(Coil.OUTLET_OPEN, False)
    bench.run(30, dt_s=0.5, beat=True)
    assert bench.ir("SKIN_TEMP") > cooled + 100
    bench.unit.set_skin(False)
    assert bench.ir("SKIN_TEMP") == NO_READING & 0xFFFF


def test_o2_falls_slowly_while_cold_air_flows_and_recovers() -> None:
    bench = Bench()
    bench.reg(Holding.AIRFLOW_LEVEL, 9)
    bench.reg(Holding.MAX_OPEN_MS, 60000)
    bench.arm()
    start = bench.ir("O2_PCT")
    bench.open()
    bench.run(55, dt_s=0.05, beat=True)
    low = bench.ir("O2_PCT")
    assert start - 15 < low < start  # slowly: less than 1.5 % a minute
    bench.coil(Coil.OUTLET_OPEN, False)
    bench.run(60, dt_s=0.5, beat=True)
    assert bench.ir("O2_PCT") > low


def test_holding_ranges_are_the_icd_ranges() -> None:
    ok = CjAirUnit.holding_ok
    assert ok(Holding.AIRFLOW_LEVEL, 1) and ok(Holding.AIRFLOW_LEVEL, 9)
    assert not ok(Holding.AIRFLOW_LEVEL, 0) and not ok(Holding.AIRFLOW_LEVEL, 10)
    assert ok(Holding.TEMP_SETPOINT, -600 & 0xFFFF) and ok(Holding.TEMP_SETPOINT, -200 & 0xFFFF)
    assert not ok(Holding.TEMP_SETPOINT, -601 & 0xFFFF) and not ok(Holding.TEMP_SETPOINT, 200)
    assert ok(Holding.HEARTBEAT, 0) and ok(Holding.HEARTBEAT, 0xFFFF)
    assert ok(Holding.WATCHDOG_MS, 100) and ok(Holding.WATCHDOG_MS, 5000)
    assert not ok(Holding.WATCHDOG_MS, 99) and not ok(Holding.WATCHDOG_MS, 5001)
    assert ok(Holding.MAX_OPEN_MS, 500) and ok(Holding.MAX_OPEN_MS, 60000)
    assert not ok(Holding.MAX_OPEN_MS, 499) and not ok(Holding.MAX_OPEN_MS, 60001)


def test_power_on_values_and_uptime() -> None:
    bench = Bench()
    state = bench.unit.state()
    assert state["holding"] == {
        "AIRFLOW_LEVEL": 3,
        "TEMP_SETPOINT": -300,
        "HEARTBEAT": 0,
        "WATCHDOG_MS": 1000,
        "MAX_OPEN_MS": 20000,
    }
    assert bench.ir("FW_VERSION") == 0x0102
    bench.run(100.0, dt_s=1.0)
    assert (bench.ir("UPTIME_S_HI"), bench.ir("UPTIME_S_LO")) == (0, 100)


def test_controls_the_unit_does_not_have_are_refused() -> None:
    unit = CjAirUnit(clock=ManualClock())
    with pytest.raises(ValueError, match="level"):
        unit.set_level(50)
    with pytest.raises(ValueError, match="unknown fault"):
        unit.set_fault("OVERPRESSURE", True)
    with pytest.raises(ValueError):
        unit.set_o2(120)


def test_power_on_watchdog_and_cap_can_be_chosen_inside_the_icd_ranges() -> None:
    bench = Bench(watchdog_ms=5000, max_open_ms=800)
    assert bench.unit.state()["holding"]["WATCHDOG_MS"] == 5000
    bench.run(4.9)
    assert bench.faults() == []
    bench.run(0.11)
    assert bench.faults() == ["WATCHDOG"]
    with pytest.raises(ValueError, match="watchdog_ms"):
        CjAirUnit(clock=ManualClock(), watchdog_ms=99)
