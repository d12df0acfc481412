"""CJ-Air codec: literal register tables from the ICD, and fuzzed ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryoctl.errors import ProtocolError
from drivers.cjair.codec import (
    airflow_level_word,
    build_status,
    decode_telemetry,
    fault_names,
    firmware_text,
    next_heartbeat,
    nozzle_code,
    take_bits,
    temp_setpoint_word,
)

# FW 1.3, faults O2_LOW|WATCHDOG, outlet -31.5 degC, skin +4.2 degC, airflow 30 (level 3),
# nozzle R10, O2 20.9 %, heartbeat echo 17, open 1200 ms, uptime 0x0001_0002 s.
WORDS = [0x0103, 0b10001, 0xFEC5, 42, 30, 2, 209, 17, 1200, 1, 2]


def test_telemetry_from_literal_words() -> None:
    t = decode_telemetry(WORDS)
    assert firmware_text(t.firmware_word) == "1.3"
    assert t.fault_bits == 0b10001
    assert t.outlet_temp_c == -31.5
    assert t.skin_temp_c == 4.2
    assert t.airflow_level == 3
    assert t.nozzle == "R10"
    assert t.o2_pct == 20.9
    assert (t.heartbeat_echo, t.outlet_open_ms, t.uptime_s) == (17, 1200, 65538)


def test_skin_sensor_off_skin_is_none() -> None:
    words = list(WORDS)
    words[3] = 0x8000  # -32768
    assert decode_telemetry(words).skin_temp_c is None


def test_status_maps_every_field() -> None:
    coils = [True, True, False, False, False]
    # ESTOP_ACTIVE, TRIGGER, HOSE_CONNECTED, OUTLET_OPEN_FB=0, WATCHDOG_TRIPPED, READY, FAULT
    discretes = [True, True, True, False, True, True, True]
    s = build_status(read_at_s=12.5, valve_at_s=12.25, telemetry_at_s=12.125, coils=coils,
                     discretes=discretes, telemetry=decode_telemetry(WORDS))
    assert (s.read_at_s, s.valve_at_s, s.telemetry_at_s) == (12.5, 12.25, 12.125)
    assert (s.valve_commanded, s.valve_feedback, s.trigger, s.estop_latched) == (
        True, False, True, True)
    assert s.watchdog_tripped and s.cooler_ready and s.hose_connected
    assert s.faults == {"WATCHDOG", "O2_LOW"} and s.faulted
    assert (s.nozzle, s.airflow_level, s.o2_pct) == ("R10", 3, 20.9)
    assert (s.outlet_temp_c, s.skin_temp_c) == (-31.5, 4.2)
    assert s.pressure_kpa is None and s.tip_temp_c is None and s.dewar_level_pct is None


@pytest.mark.parametrize(
    ("bits", "names"),
    [
        (0, set()),
        (1 << 0, {"WATCHDOG"}),
        (1 << 1, {"OPEN_CAP"}),
        (1 << 2, {"TEMP_SENSOR"}),
        (1 << 3, {"COOLER"}),
        (1 << 4, {"O2_LOW"}),
        (1 << 5, {"VALVE_MISMATCH"}),
        (1 << 6, {"HOSE_LOST"}),
        (1 << 9, {"BIT9"}),
    ],
)
def test_fault_bit_names(bits: int, names: set[str]) -> None:
    assert fault_names(bits) == names


def test_nozzles() -> None:
    assert [nozzle_code(i) for i in range(6)] == [None, "S6", "R10", "F20", "C30", "?5"]


def test_setpoints_are_range_checked() -> None:
    assert temp_setpoint_word(-30.0) == 0xFED4  # -300
    assert temp_setpoint_word(-60.0) == 0xFDA8
    with pytest.raises(ValueError, match=r"TEMP_SETPOINT=-190 is outside -600\.\.-200"):
        temp_setpoint_word(-19.0)
    assert airflow_level_word(9) == 9
    with pytest.raises(ValueError, match="AIRFLOW_LEVEL=0"):
        airflow_level_word(0)


def test_heartbeat_always_differs_from_the_last() -> None:
    assert next_heartbeat(0) == 1
    assert next_heartbeat(41) == 42
    assert next_heartbeat(0xFFFF) == 1


def test_short_answers_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="10 registers, expected 11"):
        decode_telemetry(WORDS[:10])
    with pytest.raises(ProtocolError, match="3 bits, expected 5"):
        take_bits([True] * 3, 5, table="coils")
    assert take_bits([True, False] * 4, 5, table="coils") == (True, False, True, False, True)
    with pytest.raises(ProtocolError):
        build_status(read_at_s=0.0, valve_at_s=0.0, telemetry_at_s=0.0, coils=[False] * 4,
                     discretes=[False] * 7, telemetry=decode_telemetry(WORDS))


words16 = st.integers(min_value=0, max_value=0xFFFF)


@settings(max_examples=150)
@given(st.lists(st.integers(min_value=-70000, max_value=70000), max_size=14))
def test_random_tables_decode_or_raise_protocol_error(words: list[int]) -> None:
    try:
        t = decode_telemetry(words)
    except ProtocolError:
        return
    assert 0 <= t.fault_bits <= 0xFFFF


@settings(max_examples=150)
@given(st.lists(words16, min_size=11, max_size=11), st.integers(0, 10), words16)
def test_mutated_tables_always_decode(words: list[int], index: int, value: int) -> None:
    words[index] = value
    t = decode_telemetry(words)
    assert t.nozzle is None or isinstance(t.nozzle, str)
    assert -3276.8 <= t.outlet_temp_c <= 3276.7
    assert fault_names(t.fault_bits) or t.fault_bits == 0
