"""N2 answers and events: fields checked against the ICD, mapped to the port's types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoctl.core.port import EventKind
from cryoctl.errors import ProtocolError
from drivers.n2.codec import EventFrame, OkReply, decode_line
from drivers.n2.events import device_event
from drivers.n2.icd import fault_names
from drivers.n2.replies import parse_echo_int, parse_event, parse_id, parse_stat
from drivers.n2.status import status_from_stat


def test_stat_literal_maps_to_status_in_host_units() -> None:
    frame = decode_line(b"$OK,STAT,1,1,0,B,50,87,-1855,209,0000*71\r\n")
    assert isinstance(frame, OkReply)
    status = status_from_stat(parse_stat(frame), read_at_s=12.5)
    assert status.read_at_s == 12.5
    assert status.valve_commanded is True
    assert status.valve_feedback is None
    assert status.trigger is True
    assert status.estop_latched is False
    assert status.nozzle == "B"
    assert status.pressure_kpa == 50.0
    assert status.dewar_level_pct == 87.0
    assert status.tip_temp_c == pytest.approx(-185.5)
    assert status.o2_pct == pytest.approx(20.9)
    assert status.fault_bits == 0
    assert status.faults == frozenset()
    assert status.watchdog_tripped is False
    assert status.skin_temp_c is None and status.airflow_level is None


def test_stat_without_nozzle_with_faults() -> None:
    frame = decode_line(b"$OK,STAT,0,0,1,-,120.5,4.5,245,195,0041*06\r\n")
    assert isinstance(frame, OkReply)
    status = status_from_stat(parse_stat(frame), read_at_s=0.0)
    assert status.nozzle is None
    assert status.estop_latched is True
    assert status.pressure_kpa == 120.5
    assert status.dewar_level_pct == 4.5
    assert status.fault_bits == 0x41
    assert status.faults == {"WATCHDOG", "O2_LOW"}
    assert status.watchdog_tripped is True


@pytest.mark.parametrize(
    ("bit", "name"),
    [
        (0, "WATCHDOG"),
        (1, "LEVEL_EMPTY"),
        (2, "OVERPRESSURE"),
        (3, "VALVE_MISMATCH"),
        (4, "TIP_SENSOR"),
        (5, "NOZZLE_LOST"),
        (6, "O2_LOW"),
        (9, "BIT9"),
    ],
)
def test_fault_bit_names(bit: int, name: str) -> None:
    assert fault_names(1 << bit) == {name}


@pytest.mark.parametrize(
    "fields",
    [
        ("2", "0", "0", "A", "50", "80", "0", "209", "0000"),  # valve not 0/1
        ("0", "0", "0", "Z", "50", "80", "0", "209", "0000"),  # unknown nozzle
        ("0", "0", "0", "A", "x", "80", "0", "209", "0000"),  # pressure not a number
        ("0", "0", "0", "A", "50", "80", "1.5", "209", "0000"),  # tip not whole tenths
        ("0", "0", "0", "A", "50", "80", "0", "209", "00G0"),  # faults not hex
        ("0", "0", "0", "A", "50", "80", "0", "209", "000"),  # faults not 4 digits
        ("0", "0", "0", "A", "50", "80", "0", "209"),  # one field short
        ("0", "0", "0", "A", "nan", "80", "0", "209", "0000"),
    ],
)
def test_bad_stat_fields_raise_protocol_error(fields: tuple[str, ...]) -> None:
    with pytest.raises(ProtocolError):
        parse_stat(OkReply("STAT", fields))


def test_answer_to_another_command_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_stat(OkReply("HB", ("1",)))
    with pytest.raises(ProtocolError):
        parse_echo_int(OkReply("WDT", ("5x",)), "WDT")


def test_id_and_echo() -> None:
    ident = parse_id(OkReply("ID", ("N2-CRYO", "SN0042", "1.3.0")))
    assert (ident.model, ident.serial, ident.firmware) == ("N2-CRYO", "SN0042", "1.3.0")
    assert parse_echo_int(OkReply("WDT", ("500",)), "WDT") == 500
    with pytest.raises(ProtocolError):
        parse_id(OkReply("ID", ("N2-CRYO",)))


@pytest.mark.parametrize(
    ("line", "kind", "value"),
    [
        (b"$EV,TRIG,1*2A\r\n", EventKind.TRIGGER, True),
        (b"$EV,ESTOP,1*7F\r\n", EventKind.ESTOP, True),
        (b"$EV,NOZZLE,M*56\r\n", EventKind.NOZZLE, "M"),
        (b"$EV,NOZZLE,-*36\r\n", EventKind.NOZZLE, None),
        (b"$EV,LEASE*61\r\n", EventKind.LEASE_EXPIRED, None),
        (b"$EV,FAULT,0002*5B\r\n", EventKind.FAULT, 2),
    ],
)
def test_events_map_to_port_events(line: bytes, kind: EventKind, value: object) -> None:
    frame = decode_line(line)
    assert isinstance(frame, EventFrame)
    event = device_event(frame, at_s=3.25, url="n2+socket://h:1")
    assert event is not None
    assert (event.kind, event.value, event.at_s) == (kind, value, 3.25)


def test_event_with_bad_value_is_dropped_not_raised() -> None:
    assert device_event(EventFrame("TRIG", ("7",)), at_s=0.0, url="u") is None
    with pytest.raises(ProtocolError):
        parse_event(EventFrame("FAULT", ("1", "2")))


_FIELD = st.text(alphabet=st.characters(codec="ascii"), max_size=8)


@settings(max_examples=150)
@given(st.lists(_FIELD, max_size=11))
def test_random_stat_fields_parse_or_raise_protocol_error(fields: list[str]) -> None:
    try:
        stat = parse_stat(OkReply("STAT", tuple(fields)))
    except ProtocolError:
        return
    assert 0 <= stat.fault_bits <= 0xFFFF


@settings(max_examples=150)
@given(
    st.sampled_from(["TRIG", "ESTOP", "NOZZLE", "LEASE", "FAULT", "X"]),
    st.lists(_FIELD, max_size=2),
)
def test_random_event_fields_parse_or_raise_protocol_error(name: str, fields: list[str]) -> None:
    try:
        event = parse_event(EventFrame(name, tuple(fields)))
    except ProtocolError:
        return
    assert event.name == name
