"""The N2 unit over real transports: TCP (raw socket and pyserial socket://) and a pty."""

from __future__ import annotations

import os
import socket
import threading
import time

import httpx
import pytest
import serial
from sim_n2_bench import LineClient, frame, split_lines

from simulator.base import RealClock
from simulator.n2.fixtures import N2Handle
from simulator.n2.runner import N2Runner
from simulator.n2.unit import N2Config, N2Unit

ROWS = [
    ("ID", "OK,ID,N2-CRYO,SIM00001,C.1.0"),
    ("HB,17", "OK,HB,17"),
    ("WDT,5000", "OK,WDT,5000"),
    ("PRESS,80", "OK,PRESS,80"),
    ("RESET", "OK,RESET"),
    ("OPEN,20", "OK,OPEN,20"),
    ("CLOSE", "OK,CLOSE"),
    ("WDT,99", "ER,WDT,RNG"),
    ("PRESS,x", "ER,PRESS,SYN"),
    ("NOPE", "ER,NOPE,UNK"),
]


def _urls(h: N2Handle) -> str:
    return h.path if h.path is not None else f"socket://{h.host}:{h.port}"


QUIET = N2Config(wdt_ms=5000)  # tests not about the watchdog: no trip while they run


@pytest.fixture
def quiet_tcp(n2_factory) -> N2Handle:
    return n2_factory("tcp", config=QUIET)


@pytest.mark.parametrize("transport", ["tcp", "pty"])
def test_every_row_over_pyserial(n2_factory, transport: str) -> None:
    h = n2_factory(transport, config=QUIET)
    with LineClient(_urls(h)) as c:
        for body, answer in ROWS:
            assert c.ask(body) == answer
        stat = c.ask("STAT").split(",")
        assert stat[:6] == ["OK", "STAT", "0", "0", "0", "A"] and stat[-1] == "0000"
        c.port.write(b"$HB,17*21\r\n")
        assert c.answer() == "ER,HB,CHK"
        h.unit.set_estop(True)
        assert c.event() == "EV,ESTOP,1"
        assert c.ask("OPEN,100") == "ER,OPEN,ILK"


def test_fixture_urls_and_addresses(n2_tcp, n2_pty) -> None:
    assert n2_tcp.url == f"n2+socket://127.0.0.1:{n2_tcp.port}"
    assert n2_pty.url == f"n2+serial://{n2_pty.path}?baud=115200"
    assert n2_tcp.control_url.startswith("http://127.0.0.1:")
    assert n2_tcp.unit.kind == "n2"


def test_raw_socket_and_unsolicited_events(quiet_tcp) -> None:
    with socket.create_connection((quiet_tcp.host, quiet_tcp.port), timeout=2) as s:
        s.sendall(frame("RESET"))
        reader = s.makefile("rb")
        assert split_lines(reader.readline())[0] == "OK,RESET"
        httpx.post(f"{quiet_tcp.control_url}/trigger", json={"pressed": True}).raise_for_status()
        assert split_lines(reader.readline()) == ["EV,TRIG,1"]
        httpx.post(f"{quiet_tcp.control_url}/nozzle", json={"code": "C"}).raise_for_status()
        assert split_lines(reader.readline()) == ["EV,NOZZLE,C"]
        reader.close()


def test_a_second_tcp_client_is_refused_while_the_first_is_on(quiet_tcp) -> None:
    with socket.create_connection((quiet_tcp.host, quiet_tcp.port), timeout=2) as first:
        first.sendall(frame("HB,1"))
        assert first.recv(100) == frame("OK,HB,1")
        with socket.create_connection((quiet_tcp.host, quiet_tcp.port), timeout=2) as second:
            assert second.recv(100) == b""  # closed by the unit at once
        first.sendall(frame("HB,3"))
        assert first.recv(100) == frame("OK,HB,3")
    # the line is free again once the first client is gone, also right after its close
    with socket.create_connection((quiet_tcp.host, quiet_tcp.port), timeout=2) as third:
        third.sendall(frame("HB,4"))
        assert third.recv(100) == frame("OK,HB,4")


def test_a_new_client_starts_with_an_empty_line(n2_tcp) -> None:
    with socket.create_connection((n2_tcp.host, n2_tcp.port), timeout=2) as s:
        s.sendall(b"$HB,1")
    time.sleep(0.05)
    with LineClient(f"socket://{n2_tcp.host}:{n2_tcp.port}") as c:
        assert c.ask("HB,2") == "OK,HB,2"


def test_answers_arrive_within_20_ms(n2_tcp) -> None:
    with LineClient(f"socket://{n2_tcp.host}:{n2_tcp.port}") as c:
        c.ask("WDT,5000")
        times = []
        for seq in range(200):
            t0 = time.perf_counter()
            assert c.ask(f"HB,{seq}") == f"OK,HB,{seq}"
            times.append(time.perf_counter() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.005
    assert times[-3] < 0.020


def test_the_pty_link_is_raw(n2_factory) -> None:
    h = n2_factory("pty", config=QUIET, control=False)
    port = serial.serial_for_url(h.path, timeout=1)
    try:
        port.reset_input_buffer()
        port.write(frame("HB,13"))  # CR must not turn into LF, nothing may echo
        assert port.readline() == frame("OK,HB,13")
    finally:
        port.close()


def test_control_channel_routes(quiet_tcp) -> None:
    url = quiet_tcp.control_url
    for route, body in [
        ("/trigger", {"pressed": True}),
        ("/estop", {"pressed": True}),
        ("/estop", {"pressed": False}),
        ("/nozzle", {"code": "P"}),
        ("/o2", {"pct": 19.0}),
        ("/level", {"pct": 42.0}),
        ("/fault", {"name": "TIP_SENSOR", "active": True, "value": -250}),
        ("/fault", {"name": "delay", "active": True, "value": 5}),
    ]:
        r = httpx.post(url + route, json=body)
        assert r.status_code == 200, (route, r.text)
    state = httpx.get(url + "/state").json()
    assert state["trigger"] and state["estop_latched"] and not state["estop_button"]
    assert state["nozzle"] == "P" and state["o2_pct"] == 19.0 and state["level_pct"] == 42.0
    assert state["tip_c"] == -250 and state["link"]["delay_ms"] == 5
    assert state["fault_names"] == ["TIP_SENSOR", "O2_LOW"]
    for route, body in [("/hose", {"connected": True}), ("/skin", {"on_skin": True})]:
        r = httpx.post(url + route, json=body)
        assert r.status_code == 400 and r.json()["field"] == route[1:]
    r = httpx.post(url + "/nozzle", json={"code": "Z"})
    assert r.status_code == 400 and "Z" in r.json()["error"]
    assert httpx.post(url + "/fault", json={"name": "NOPE", "active": True}).status_code == 400


def test_link_delay_holds_answers_not_events(quiet_tcp) -> None:
    quiet_tcp.unit.set_fault("delay", True, 60)
    with LineClient(f"socket://{quiet_tcp.host}:{quiet_tcp.port}") as c:
        t0 = time.perf_counter()
        assert c.ask("HB,1") == "OK,HB,1"
        assert time.perf_counter() - t0 >= 0.06
        quiet_tcp.unit.set_fault("delay", False)
        t0 = time.perf_counter()
        assert c.ask("HB,2") == "OK,HB,2"
        assert time.perf_counter() - t0 < 0.06


def test_wire_baud_delays_each_line_by_its_frame_time(n2_factory) -> None:
    h = n2_factory("tcp", wire_baud=2400, control=False)
    with LineClient(f"socket://{h.host}:{h.port}") as c:
        line = frame("OK,ID,N2-CRYO,SIM00001,C.1.0")
        t0 = time.perf_counter()
        c.ask("ID")
        assert time.perf_counter() - t0 >= len(line) * 10 / 2400


def test_a_runner_stops_cleanly(tmp_path) -> None:
    before = set(threading.enumerate())
    for pty_path in (tmp_path / "link", None):
        clock = RealClock()
        runner = N2Runner(N2Unit(clock=clock), clock, pty_path=pty_path)
        runner.start()
        assert len(set(threading.enumerate()) - before) == 1
        if pty_path is not None:
            assert os.path.realpath(pty_path).startswith("/dev/pts/")
        else:
            assert runner.port is not None
            socket.create_connection(("127.0.0.1", runner.port), timeout=2).close()
        runner.stop()
        assert set(threading.enumerate()) - before == set()
        if pty_path is not None:
            assert not pty_path.is_symlink()
        else:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", runner.port), timeout=2)
            assert runner.control_url is not None
            with pytest.raises(httpx.ConnectError):
                httpx.get(runner.control_url + "/state")


FAULT_BITS = {
    "WATCHDOG": 0x01,
    "LEVEL_EMPTY": 0x02,
    "OVERPRESSURE": 0x04,
    "VALVE_MISMATCH": 0x08,
    "TIP_SENSOR": 0x10,
    "NOZZLE_LOST": 0x20,
    "O2_LOW": 0x40,
}


def test_every_fault_bit_through_the_control_channel(quiet_tcp) -> None:
    url = quiet_tcp.control_url
    with LineClient(f"socket://{quiet_tcp.host}:{quiet_tcp.port}") as c:
        assert c.ask("WDT,5000") == "OK,WDT,5000"
        c.ask("RESET")
        for name, bit in FAULT_BITS.items():
            r = httpx.post(url + "/fault", json={"name": name, "active": True})
            assert r.status_code == 200, r.text
            assert c.event() == f"EV,FAULT,{bit:04X}"
            assert c.ask("STAT").endswith(f",{bit:04X}")
            assert c.ask("OPEN,100") == "ER,OPEN,ILK"
            httpx.post(url + "/fault", json={"name": name, "active": False}).raise_for_status()
            assert c.ask("RESET") == "OK,RESET"
            assert c.event() == "EV,FAULT,0000"
