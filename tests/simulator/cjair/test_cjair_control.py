"""The CJ-Air unit behind the HTTP control channel, and its PDU handler under random input."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.client import ModbusSerialClient

from simulator.base import ManualClock, SimUnit
from simulator.cjair import pdu
from simulator.cjair.fixtures import CjAirHandle
from simulator.cjair.unit import CjAirUnit

ICD_FAULTS = [
    "WATCHDOG",
    "OPEN_CAP",
    "TEMP_SENSOR",
    "COOLER",
    "O2_LOW",
    "VALVE_MISMATCH",
    "HOSE_LOST",
]


def test_every_world_control_and_fault_over_http(cjair_tcp: CjAirHandle) -> None:
    assert isinstance(cjair_tcp.unit, SimUnit)
    with httpx.Client(base_url=cjair_tcp.control_url, timeout=5) as http:
        for path, body in [
            ("/trigger", {"pressed": True}),
            ("/nozzle", {"code": "F20"}),
            ("/skin", {"on_skin": False}),
            ("/hose", {"connected": False}),
            ("/o2", {"pct": 19.9}),
        ]:
            assert http.post(path, json=body).status_code == 200, path
        state = http.get("/state").json()
        assert state["trigger"] and state["nozzle"] == "F20" and not state["hose"]
        assert state["inputs"]["NOZZLE_ID"] == 3 and state["inputs"]["SKIN_TEMP"] == 0x8000
        assert state["o2_pct"] == 19.9
        for name in ICD_FAULTS:
            answer = http.post("/fault", json={"name": name, "active": True})
            assert answer.status_code == 200, answer.text
        state = http.get("/state").json()
        assert {"WATCHDOG", "OPEN_CAP", "TEMP_SENSOR", "O2_LOW"} <= set(state["faults"])
        assert set(state["injected"]) == {
            "TEMP_SENSOR",
            "COOLER",
            "O2_LOW",
            "VALVE_MISMATCH",
            "HOSE_LOST",
        }
        lag = http.post("/fault", json={"name": "valve_lag", "active": True, "value": 80})
        assert lag.json()["valve_lag_ms"] == 80
        for name, value in [("drop_all", None), ("corrupt", 0.5), ("delay", 20), ("freeze", None)]:
            answer = http.post("/fault", json={"name": name, "active": True, "value": value})
            assert answer.status_code == 200, answer.text
        assert http.get("/state").json()["link"] == {
            "drop_all": True,
            "corrupt_ratio": 0.5,
            "delay_ms": 20.0,
            "freeze": True,
        }
        bad = http.post("/fault", json={"name": "OVERPRESSURE", "active": True})
        assert bad.status_code == 400 and "OVERPRESSURE" in bad.json()["error"]
        assert http.post("/nozzle", json={"code": "Z9"}).status_code == 400
        assert http.post("/level", json={"pct": 10}).json()["field"] == "level"


def test_pymodbus_rtu_client_reads_every_table(cjair_rtu: CjAirHandle) -> None:
    # parity N on the client: this kernel's pty refuses pymodbus' second termios
    # update while even parity is asked for; a pty carries no parity bit anyway.
    client = ModbusSerialClient(
        cjair_rtu.path or "", baudrate=19200, parity="N", timeout=1, retries=0
    )
    assert client.connect()
    try:
        assert client.read_coils(0, count=5, device_id=1).bits[:5] == [False] * 5
        assert len(client.read_discrete_inputs(0, count=7, device_id=1).bits) >= 7
        assert client.read_input_registers(0, count=11, device_id=1).registers[0] == 0x0102
        assert not client.write_registers(0, [9, (-600) & 0xFFFF], device_id=1).isError()
        assert client.read_holding_registers(0, count=2, device_id=1).registers == [9, 0xFDA8]
        assert client.read_holding_registers(0, count=6, device_id=1).exception_code == 2
    finally:
        client.close()


@settings(max_examples=200)
@given(st.binary(min_size=0, max_size=40))
def test_any_pdu_gets_a_modbus_answer_and_never_an_error(data: bytes) -> None:
    unit = CjAirUnit(clock=ManualClock())
    answer = pdu.handle(unit, data)
    assert answer
    if pdu.is_exception(answer):
        assert len(answer) == 2 and answer[1] in (1, 2, 3)
    else:
        assert answer[0] == data[0] and answer[0] in (1, 2, 3, 4, 5, 6, 15, 16)
