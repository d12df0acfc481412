"""Every row of the CJ-Air ICD over Modbus TCP, with the pymodbus client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from simulator.cjair.fixtures import CjAirHandle

ID = {"device_id": 1}


@pytest.fixture
def client(cjair_tcp: CjAirHandle) -> Iterator[ModbusTcpClient]:
    assert cjair_tcp.port is not None
    c = ModbusTcpClient("127.0.0.1", port=cjair_tcp.port, timeout=2, retries=0)
    assert c.connect()
    yield c
    c.close()


def _arm(client: ModbusTcpClient) -> None:
    """The ICD's start-up recipe."""
    assert not client.write_registers(3, [5000, 20000], **ID).isError()
    assert client.read_holding_registers(3, count=2, **ID).registers == [5000, 20000]
    assert not client.write_register(2, 1, **ID).isError()
    assert not client.write_coil(2, True, **ID).isError()


def test_every_row_reads_and_nothing_past_the_tables(client: ModbusTcpClient) -> None:
    reads = {
        "coils": (client.read_coils, 5),
        "discretes": (client.read_discrete_inputs, 7),
        "inputs": (client.read_input_registers, 11),
        "holding": (client.read_holding_registers, 5),
    }
    for read, size in reads.values():
        for address in range(size):
            assert not read(address, count=1, **ID).isError()
        assert not read(0, count=size, **ID).isError()
        for address, count in [(size, 1), (0, size + 1), (size - 1, 2), (100, 1)]:
            answer = read(address, count=count, **ID)
            assert answer.isError() and answer.exception_code == 0x02
    for address in (5, 15, 16):
        assert client.write_coil(address, True, **ID).exception_code == 0x02
        assert client.write_register(address, 1, **ID).exception_code == 0x02


def test_power_on_values(client: ModbusTcpClient) -> None:
    assert client.read_holding_registers(0, count=5, **ID).registers == [
        3,
        (-300) & 0xFFFF,
        0,
        1000,
        20000,
    ]
    inputs = client.read_input_registers(0, count=11, **ID).registers
    assert inputs[0] == 0x0102  # FW 1.2
    assert inputs[5] == 2  # R10 fitted
    assert inputs[3] == 320  # 32.0 °C skin
    assert 200 <= inputs[6] <= 210
    bits = client.read_discrete_inputs(0, count=7, **ID).bits[:7]
    assert bits[2]  # HOSE_CONNECTED


@pytest.mark.parametrize(
    ("address", "low", "high"),
    [(0, 1, 9), (1, -600, -200), (3, 100, 5000), (4, 500, 60000)],
)
def test_holding_ranges_and_out_of_range_changes_nothing(
    client: ModbusTcpClient, address: int, low: int, high: int
) -> None:
    before = client.read_holding_registers(address, count=1, **ID).registers[0]
    for bad in (low - 1, high + 1):
        answer = client.write_register(address, bad & 0xFFFF, **ID)
        assert answer.isError() and answer.exception_code == 0x03
        assert client.read_holding_registers(address, count=1, **ID).registers == [before]
    for good in (low, high):
        assert not client.write_register(address, good & 0xFFFF, **ID).isError()
        assert client.read_holding_registers(address, count=1, **ID).registers == [good & 0xFFFF]


def test_a_multi_write_with_one_bad_value_changes_nothing(client: ModbusTcpClient) -> None:
    before = client.read_holding_registers(0, count=5, **ID).registers
    answer = client.write_registers(0, [5, (-400) & 0xFFFF, 7, 100, 60001], **ID)
    assert answer.isError() and answer.exception_code == 0x03
    assert client.read_holding_registers(0, count=5, **ID).registers == before
    assert not client.write_registers(0, [5, (-400) & 0xFFFF, 7, 100, 60000], **ID).isError()
    assert client.read_holding_registers(0, count=5, **ID).registers == [
        5,
        (-400) & 0xFFFF,
        7,
        100,
        60000,
    ]
    assert client.read_input_registers(7, count=1, **ID).registers == [7]  # HEARTBEAT_ECHO


def test_outlet_reads_back_zero_while_interlocked_then_opens(
    client: ModbusTcpClient, cjair_tcp: CjAirHandle
) -> None:
    time.sleep(1.05)  # the watchdog trips from power-on
    assert client.read_discrete_inputs(4, count=1, **ID).bits[0]  # WATCHDOG_TRIPPED
    assert not client.write_coil(0, True, **ID).isError()
    assert client.read_coils(0, count=1, **ID).bits[0] is False
    _arm(client)
    assert client.read_discrete_inputs(0, count=7, **ID).bits[4:7] == [False, False, False]
    assert client.read_coils(2, count=2, **ID).bits[:2] == [False, False]  # resets read 0
    assert not client.write_coil(0, True, **ID).isError()
    assert client.read_coils(0, count=1, **ID).bits[0] is True
    time.sleep(0.08)
    assert client.read_discrete_inputs(3, count=1, **ID).bits[0]  # OUTLET_OPEN_FB
    assert client.read_input_registers(4, count=1, **ID).registers == [30]  # AIRFLOW_ACTUAL
    assert client.read_input_registers(8, count=1, **ID).registers[0] >= 50  # OUTLET_OPEN_MS
    cjair_tcp.unit.set_estop(True)
    assert client.read_coils(0, count=1, **ID).bits[0] is False
    assert client.read_discrete_inputs(0, count=1, **ID).bits[0]  # ESTOP_ACTIVE
    cjair_tcp.unit.set_estop(False)
    assert not client.write_coil(3, True, **ID).isError()  # ESTOP_RESET
    assert not client.read_discrete_inputs(0, count=1, **ID).bits[0]
    assert client.read_coils(0, count=1, **ID).bits[0] is False  # it never reopens


def test_coils_write_together_and_the_buzzer_and_cooler_hold(client: ModbusTcpClient) -> None:
    assert not client.write_coils(0, [False, True, False, False, True], **ID).isError()
    assert client.read_coils(0, count=5, **ID).bits[:5] == [False, True, False, False, True]
    answer = client.write_coils(3, [True, True, True], **ID)
    assert answer.isError() and answer.exception_code == 0x02


def test_world_and_faults_show_on_the_wire(client: ModbusTcpClient, cjair_tcp: CjAirHandle) -> None:
    unit = cjair_tcp.unit
    unit.set_trigger(True)
    unit.set_nozzle("C30")
    unit.set_skin(False)
    assert client.read_discrete_inputs(1, count=1, **ID).bits[0]
    assert client.read_input_registers(3, count=3, **ID).registers == [0x8000, 0, 4]
    unit.set_fault("TEMP_SENSOR", True)
    unit.set_o2(18.2)
    faults = client.read_input_registers(1, count=1, **ID).registers[0]
    assert faults & 0b10100 == 0b10100  # TEMP_SENSOR, O2_LOW
    assert client.read_input_registers(6, count=1, **ID).registers == [182]


def test_link_faults(client: ModbusTcpClient, cjair_tcp: CjAirHandle) -> None:
    unit = cjair_tcp.unit
    unit.set_fault("delay", True, 120)
    started = time.perf_counter()
    assert not client.read_coils(0, count=1, **ID).isError()
    assert time.perf_counter() - started >= 0.12
    unit.set_fault("delay", False)
    unit.set_fault("freeze", True)
    frozen = client.read_input_registers(6, count=1, **ID).registers
    unit.set_o2(19.0)
    assert client.read_input_registers(6, count=1, **ID).registers == frozen
    unit.set_fault("freeze", False)
    assert client.read_input_registers(6, count=1, **ID).registers == [190]
    quick = ModbusTcpClient("127.0.0.1", port=cjair_tcp.port or 0, timeout=0.3, retries=0)
    assert quick.connect()
    try:
        unit.set_fault("drop_all", True)
        with pytest.raises(ModbusIOException):
            quick.read_coils(0, count=1, **ID)
        unit.set_fault("drop_all", False)
        unit.set_fault("corrupt", True, 1.0)
        with pytest.raises(ModbusIOException):
            quick.read_coils(0, count=1, **ID)
    finally:
        quick.close()
    counters = unit.state()["counters"]
    assert counters["dropped"] >= 1 and counters["frames_in"] > counters["frames_out"] - 1


def test_wire_baud_delays_answers_by_the_line_time(cjair_factory) -> None:  # type: ignore[no-untyped-def]
    handle = cjair_factory(wire_baud=19200)
    c = ModbusTcpClient("127.0.0.1", port=handle.port, timeout=2, retries=0)
    assert c.connect()
    try:
        started = time.perf_counter()
        assert not c.write_coil(4, True, **ID).isError()
        elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        c.close()
    assert elapsed_ms >= 13.0  # write_coil at 19200 8E1: 16 chars + two 3.5-char gaps


def test_speed_brings_the_cooler_to_ready_on_the_wire(cjair_factory) -> None:  # type: ignore[no-untyped-def]
    handle = cjair_factory(speed=50.0)
    c = ModbusTcpClient("127.0.0.1", port=handle.port, timeout=2, retries=0)
    assert c.connect()
    try:
        assert not c.write_register(1, (-250) & 0xFFFF, **ID).isError()
        assert not c.write_coil(1, True, **ID).isError()
        assert not c.read_discrete_inputs(5, count=1, **ID).bits[0]  # not ready at once
        deadline = time.monotonic() + 3.0  # 150 s of unit time
        while not c.read_discrete_inputs(5, count=1, **ID).bits[0]:
            assert time.monotonic() < deadline, handle.unit.state()["outlet_temp_c"]
            time.sleep(0.02)
        outlet_dc = c.read_input_registers(2, count=1, **ID).registers[0] - 0x10000
        assert abs(outlet_dc - (-250)) <= 30
        hi, lo = c.read_input_registers(9, count=2, **ID).registers
        assert 20 <= (hi << 16 | lo) <= 150  # UPTIME_S: ready came after 20 to 90 s
    finally:
        c.close()
    assert "COOLER" not in handle.unit.state()["faults"]
