"""Safety invariants of the unit under random sequences of commands, controls and time."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sim_n2_bench import Bench

FAULT_NAMES = [
    "WATCHDOG",
    "LEVEL_EMPTY",
    "OVERPRESSURE",
    "VALVE_MISMATCH",
    "TIP_SENSOR",
    "NOZZLE_LOST",
    "O2_LOW",
]


class UnitMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.b = Bench()
        self.lease_end_s: float | None = None
        self.faults_seen = "0000"

    def _watch(self, lines: list[str]) -> None:
        for line in lines:
            if line.startswith("EV,FAULT,"):
                self.faults_seen = line.split(",")[2]

    @rule(lease_ms=st.integers(0, 600))
    def open_(self, lease_ms: int) -> None:
        was_open = self.b.unit.state()["valve_commanded"]
        out = self.b.tx(f"OPEN,{lease_ms}")
        self._watch(out)
        answer = next(line for line in out if not line.startswith("EV,"))
        if answer.startswith("OK,"):
            assert 20 <= lease_ms <= 500
            self.lease_end_s = self.b.clock() + lease_ms / 1000
        else:
            assert answer in ("ER,OPEN,ILK", "ER,OPEN,RNG")
            if not was_open:
                assert not self.b.unit.state()["valve_commanded"]

    @rule(body=st.sampled_from(["CLOSE", "RESET", "HB,1", "STAT", "ID", "WDT,100", "WDT,5000"]))
    def command(self, body: str) -> None:
        before = self.b.unit.state()["valve_commanded"]
        self._watch(self.b.tx(body))
        if body in ("CLOSE", "RESET"):
            assert self.b.unit.state()["valve_commanded"] is (before and body == "RESET")

    @rule(dt_s=st.floats(0.0, 0.6))
    def wait(self, dt_s: float) -> None:
        self._watch(self.b.wait(dt_s))

    @rule(pressed=st.booleans())
    def estop(self, pressed: bool) -> None:
        self.b.unit.set_estop(pressed)
        self._watch(self.b.events())

    @rule(code=st.sampled_from(["A", "M", "P", None]))
    def nozzle(self, code: str | None) -> None:
        self.b.unit.set_nozzle(code)
        self._watch(self.b.events())

    @rule(name=st.sampled_from(FAULT_NAMES), active=st.booleans())
    def fault(self, name: str, active: bool) -> None:
        self.b.unit.set_fault(name, active)
        self._watch(self.b.events())

    @rule(pct=st.sampled_from([2.0, 50.0, 18.0, 20.9]))
    def level_or_o2(self, pct: float) -> None:
        if pct in (18.0, 20.9):
            self.b.unit.set_o2(pct)
        else:
            self.b.unit.set_level(pct)
        self._watch(self.b.events())

    @invariant()
    def never_open_when_it_must_not_be(self) -> None:
        state = self.b.unit.state()
        if state["valve_commanded"]:
            assert not state["estop_latched"]
            assert state["faults"] == "0000"
            assert state["nozzle"] != "-"
            assert self.lease_end_s is not None and self.b.clock() < self.lease_end_s

    @invariant()
    def the_last_fault_event_is_the_fault_word(self) -> None:
        assert self.faults_seen == self.b.unit.state()["faults"]


UnitMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40)
test_unit_invariants = UnitMachine.TestCase
