"""The catalogue: every code has a spec, with the priorities and latching the issue asks for."""

import pytest

from cryoctl.core.alarms import CATALOGUE, AlarmCode, AlarmSpec, Category, Priority

C = AlarmCode

HIGH = {
    C.ESTOP, C.O2_LOW, C.O2_FAULT, C.SKIN_STOP, C.VALVE_STUCK_OPEN, C.COMM_LOST,
    C.UNIT_FAULT, C.NO_FLOW, C.SUPERVISOR_CLOSE, C.CLOSE_FAILED, C.VALVE_OPEN_UNCOMMANDED,
    C.READINGS_FROZEN,
}
MEDIUM = {
    C.SKIN_WARN, C.STALE_DATA, C.VALVE_MISMATCH, C.NOZZLE_MISMATCH, C.SKIN_NO_READING,
    C.CONFIG_MISMATCH, C.WRITE_FAILED, C.LOOP_LATE, C.RECORDS_WRITE_FAILED,
}
LOW = {C.DWELL_CUTOFF, C.ZONE_CAP, C.SESSION_TIME_CAP, C.CRYOGEN_CAP}
PHYSIOLOGICAL = {C.SKIN_WARN, C.SKIN_STOP, C.O2_LOW, C.O2_FAULT}
LATCHING = {
    C.ESTOP, C.O2_LOW, C.O2_FAULT, C.SKIN_STOP, C.VALVE_STUCK_OPEN, C.NO_FLOW,
    C.UNIT_FAULT, C.COMM_LOST, C.SUPERVISOR_CLOSE, C.CLOSE_FAILED, C.VALVE_OPEN_UNCOMMANDED,
    C.READINGS_FROZEN, C.RECORDS_WRITE_FAILED,
}


def test_every_code_has_exactly_one_spec_filed_under_it() -> None:
    assert set(CATALOGUE) == set(AlarmCode)
    for code, spec in CATALOGUE.items():
        assert isinstance(spec, AlarmSpec)
        assert spec.code is code


def test_priority_sets_cover_every_code_once() -> None:
    assert set(AlarmCode) == HIGH | MEDIUM | LOW
    assert not (HIGH & MEDIUM) and not (HIGH & LOW) and not (MEDIUM & LOW)


@pytest.mark.parametrize("code", list(AlarmCode))
def test_spec_matches_the_issue(code: AlarmCode) -> None:
    spec = CATALOGUE[code]
    priority = {**dict.fromkeys(LOW, Priority.LOW), **dict.fromkeys(MEDIUM, Priority.MEDIUM),
                **dict.fromkeys(HIGH, Priority.HIGH)}[code]
    category = Category.PHYSIOLOGICAL if code in PHYSIOLOGICAL else Category.TECHNICAL
    assert spec.priority is priority
    assert spec.category is category
    assert spec.latching is (code in LATCHING)
    assert spec.message.strip() and spec.message[0].isupper()
    assert code.value == code.name.lower()


def test_names_and_values_of_the_enums() -> None:
    assert [int(p) for p in (Priority.LOW, Priority.MEDIUM, Priority.HIGH)] == [1, 2, 3]
    assert [c.value for c in Category] == ["technical", "physiological"]
    assert C.O2_LOW.value == "o2_low"
    assert CATALOGUE[C.O2_LOW].message == "Room oxygen below 19.5 %"


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE[C.ESTOP] = CATALOGUE[C.ZONE_CAP]  # type: ignore[index]
