"""The treatment machine's table: illegal triggers raise, latches hold, the diagram is current.

Regenerate the diagram with ``python tests/core/test_machine_table.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cryoctl.core.machine import TRANSITIONS, Phase, TreatmentMachine, mermaid_diagram
from cryoctl.errors import MachineRefused

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-machine.md"

HEADER = """\
# The treatment state machine

Generated from `cryoctl/core/machine.py` (`TRANSITIONS`) by
`python tests/core/test_machine_table.py`; `tests/core/test_machine_table.py`
fails when this file is stale. Guards are in brackets; each is a named question
the treatment core answers (`cryoctl/core/treatment_state.py`, from the rules in
`cryoctl/core/rules.py`). `estop` and `fault` latch: their resets lead to `selftest`,
where the unit's protection is written and read back again, then to `idle`, never back
to treating. A lost link holds a running session in `disconnected`; back within the
grace time (and the read-back passed) it returns `paused`, so spraying again takes a
staff resume and a new press; past the grace time it ends as interrupted. The valve
closes before any transition that leaves `treating_spraying`, and the safety supervisor
(`cryoctl/core/supervisor.py`) closes it whatever state this machine is in.

"""


def expected_doc() -> str:
    return HEADER + "```mermaid\n" + mermaid_diagram().rstrip() + "\n```\n"


class Answers:
    """Guards with fixed answers, changeable per test."""

    def __init__(self, **answers: bool) -> None:
        self.answers = answers

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda: self.answers.get(name, True)


def machine_at(phase: Phase, **answers: bool) -> TreatmentMachine:
    return TreatmentMachine(Answers(**answers), initial=phase)  # type: ignore[arg-type]


def test_exported_diagram_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == expected_doc(), (
        "docs/state-machine.md is stale: run python tests/core/test_machine_table.py"
    )


def test_only_listed_triggers_exist() -> None:
    m = machine_at(Phase.IDLE)
    with pytest.raises(MachineRefused):
        m.fire("spray")
    with pytest.raises(MachineRefused):
        m.fire("to_treating_spraying")
    assert m.phase is Phase.IDLE


def test_spray_needs_its_guard() -> None:
    g = Answers(spray_permitted=False)
    m = TreatmentMachine(g, initial=Phase.ARMED)  # type: ignore[arg-type]
    assert m.fire("spray") is False
    assert m.phase is Phase.ARMED
    g.answers["spray_permitted"] = True
    assert m.fire("spray") is True
    assert m.phase is Phase.SPRAYING


@pytest.mark.parametrize("phase", list(Phase))
def test_estop_is_reachable_from_everywhere_and_latches(phase: Phase) -> None:
    m = machine_at(phase, estop_latch_clear=False)
    m.fire("estop")
    assert m.phase is Phase.ESTOP
    for trigger in {row["trigger"] for row in TRANSITIONS} - {"estop", "reset_estop"}:
        with pytest.raises(MachineRefused):
            m.fire(trigger)
    assert m.fire("reset_estop") is False
    assert m.phase is Phase.ESTOP


def test_estop_and_fault_resets_lead_to_the_protection_read_back_only() -> None:
    for row in TRANSITIONS:
        if row["trigger"] in ("reset_estop", "reset_fault", "link_back"):
            assert row["dest"] == Phase.SELFTEST
    m = machine_at(Phase.ESTOP, session_held=False)
    m.fire("reset_estop")
    assert m.phase is Phase.SELFTEST
    assert m.fire("selftest_passed") is True
    assert m.phase is Phase.IDLE


def test_a_session_held_through_an_outage_comes_back_paused_never_treating() -> None:
    m = machine_at(Phase.DISCONNECTED, session_held=True)
    m.fire("link_back")
    assert m.fire("selftest_passed") is True
    assert m.phase is Phase.PAUSED
    back = [r for r in TRANSITIONS if r["source"] == [Phase.SELFTEST] and r["dest"] is not None]
    assert {r["dest"] for r in back} <= {Phase.PAUSED, Phase.IDLE, Phase.FAULT}


def test_only_a_verified_protection_leads_out_of_selftest_or_into_a_session() -> None:
    into_idle = [r for r in TRANSITIONS if r["dest"] == Phase.IDLE]
    assert [r["source"] for r in into_idle] == [[Phase.SELFTEST]]
    assert all("protection_verified" in r["conditions"] for r in into_idle)
    [start] = [r for r in TRANSITIONS if r["trigger"] == "start"]
    assert "protection_verified" in start["conditions"]
    m = machine_at(Phase.SELFTEST, protection_verified=False)
    assert m.fire("selftest_passed") is False
    assert m.phase is Phase.SELFTEST


def test_nothing_but_spray_enters_spraying() -> None:
    into_spraying = {r["trigger"] for r in TRANSITIONS if r["dest"] == Phase.SPRAYING}
    assert into_spraying == {"spray"}
    assert [r["source"] for r in TRANSITIONS if r["trigger"] == "spray"] == [[Phase.ARMED]]


if __name__ == "__main__":
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(expected_doc(), encoding="utf-8")
    sys.exit(0)
