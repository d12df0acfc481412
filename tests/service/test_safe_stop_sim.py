"""``cryoctl safe-stop`` as systemd runs it, against the simulated units over TCP.

The valve is opened first from the test, over the unit's own protocol, the way a
control process that just died would have left it. Both simulators run with a
slow clock (``--speed``) so that the unit's own expiry (the N2 lease of 500 ms,
the CJ-Air heartbeat watchdog) cannot close the valve before safe-stop does: what
closes it is safe-stop's command, seen in the simulator's valve history and in its
debug log of every frame received.

Where the kernel has PR_SET_MDWE (Linux 6.3), the simulator (FastAPI, uvicorn,
pymodbus) and safe-stop run under it: the rule MemoryDenyWriteExecute=yes sets
for cryoctl.service and cryoctl-panel.service.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient
from service_rig import (
    SYSTEMD,
    Sim,
    free_tcp_port,
    json_lines,
    mdwe_available,
    run_cryoctl,
    running_sim,
    wait_for,
    write_config,
)


@pytest.fixture(scope="module")
def mdwe() -> bool:
    return mdwe_available()


def test_mdwe_wrapper_refuses_writable_executable_memory(mdwe: bool) -> None:
    if not mdwe:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or newer)")
    assert mdwe


def _events(stdout: str) -> list[dict[str, Any]]:
    return [e for e in json_lines(stdout) if e.get("logger") == "cryoctl.safe_stop"]


def _assert_closed_cleanly(done: Any, url: str) -> None:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    events = _events(done.stdout)
    assert [e["event"] for e in events] == ["safe-stop", "valve closed"], done.stdout
    assert all(e["url"] == url for e in events)
    assert not [e for e in json_lines(done.stdout) if e["level"] == "error"], done.stdout


# -- N2 -------------------------------------------------------------------------------

def _n2_line(body: str) -> bytes:
    check = 0
    for byte in body.encode("ascii"):
        check ^= byte
    return f"${body}*{check:02X}\r\n".encode("ascii")


def _n2_session(sim: Sim, *commands: str) -> list[str]:
    """One raw connection: each command and its answer; closed again at the end."""
    answers = []
    with socket.create_connection(sim.host_port, timeout=5) as sock, \
            sock.makefile("rb") as lines:
        for command in commands:
            sock.sendall(_n2_line(command))
            answers.append(lines.readline().decode("ascii").strip())
    return answers


def _n2_commands_after_last_client(sim: Sim) -> list[str]:
    lines = sim.log_lines()
    clients = [i for i, line in enumerate(lines) if "n2 tcp: client (" in line]
    assert len(clients) == 2, lines  # the test's connection, then safe-stop's
    received = "".join(line for line in lines[clients[-1]:] if " n2 rx " in line)
    return re.findall(r"\$([A-Z]+)", received)


def test_n2_valve_closed_by_safe_stop(tmp_path: Path, mdwe: bool) -> None:
    # 50 times slower: the 500 ms lease lasts 25 s, the watchdog even longer.
    with running_sim("n2", tmp_path, ["--speed", "0.02"], mdwe=mdwe) as sim:
        answers = _n2_session(sim, "ID", "WDT,2500", "RESET", "OPEN,500")
        assert [a.split("*")[0] for a in answers[1:]] == [
            "$OK,WDT,2500", "$OK,RESET", "$OK,OPEN,500"]
        before = sim.state()
        assert before["valve_open"] is True
        config = write_config(tmp_path / "cryoctl.toml", "n2", sim.url)

        done = run_cryoctl("safe-stop", "--config", str(config), mdwe=mdwe)

        _assert_closed_cleanly(done, sim.url)
        after = sim.state()
        assert after["valve_open"] is False
        assert after["valve_history"][-1]["why"] == "CLOSE"  # not the lease, not a fault
        assert after["faults"] == "0000" and after["wdt_ms"] == 2500
        sent = _n2_commands_after_last_client(sim)
        assert "CLOSE" in sent
        # nothing that configures or arms: no WDT, PRESS, RESET, OPEN
        assert set(sent) <= {"ID", "CLOSE", "STAT", "HB"}, sent


# -- CJ-Air ---------------------------------------------------------------------------

def _modbus_requests_after_first_client(sim: Sim) -> list[bytes]:
    lines = sim.log_lines()
    gone = [i for i, line in enumerate(lines) if "cj-air tcp client went away" in line]
    assert gone, lines  # the test's client left before safe-stop came
    frames = []
    for line in lines[gone[0]:]:
        found = re.search(r"cj-air tcp rx ((?:[0-9a-f]{2} ?)+)$", line)
        if found:
            frames.append(bytes.fromhex(found.group(1)))
    return [frame[7:] for frame in frames]  # the PDU, after the MBAP header


def test_cjair_outlet_closed_by_safe_stop(tmp_path: Path, mdwe: bool) -> None:
    # 20 times slower: WATCHDOG_MS 5000 lasts 100 s.
    with running_sim("cj-air", tmp_path, ["--speed", "0.05"], mdwe=mdwe) as sim:
        host, port = sim.host_port
        client = ModbusTcpClient(host, port=port, timeout=5)
        try:
            assert client.connect()
            # The ICD's start-up: protection, a heartbeat, FAULT_RESET; then open.
            assert not client.write_registers(3, [5000, 60000], device_id=1).isError()
            assert not client.write_register(2, 7, device_id=1).isError()
            assert not client.write_coil(2, True, device_id=1).isError()
            assert not client.write_coil(0, True, device_id=1).isError()
            assert client.read_coils(0, count=1, device_id=1).bits[0] is True
        finally:
            client.close()
        before = sim.state()
        assert before["coils"]["OUTLET_OPEN"] is True and before["valve_drive_open"] is True
        config = write_config(tmp_path / "cryoctl.toml", "cj-air", sim.url)
        wait_for(lambda: any("client went away" in line for line in sim.log_lines()), 5,
                 "the test's Modbus client gone")

        done = run_cryoctl("safe-stop", "--config", str(config), mdwe=mdwe)

        _assert_closed_cleanly(done, sim.url)
        after = sim.state()
        assert after["coils"]["OUTLET_OPEN"] is False
        assert after["valve_drive_open"] is False
        assert after["valve_history"][-1]["open"] is False
        # nothing written but the outlet: the heartbeat and the protection stand
        assert after["holding"] == before["holding"]
        assert after["holding"]["HEARTBEAT"] == 7
        assert [e["event"] for e in after["events"]].count("FAULT_RESET") == 1
        pdus = _modbus_requests_after_first_client(sim)
        writes = [pdu for pdu in pdus if pdu[0] not in (1, 2, 3, 4)]
        assert writes, pdus
        # every write is FC05 OUTLET_OPEN (coil 0) := 0
        assert all(pdu[:5] == bytes([5, 0, 0, 0, 0]) for pdu in writes), writes


# -- no unit, a silent unit, a bad config ---------------------------------------------

def test_unreachable_unit_is_exit_0_and_an_error_naming_the_url(tmp_path: Path) -> None:
    url = f"modbus+tcp://127.0.0.1:{free_tcp_port()}?device_id=1"
    config = write_config(tmp_path / "cryoctl.toml", "cj-air", url)
    done = run_cryoctl("safe-stop", "--config", str(config))
    assert done.returncode == 0, done.stderr
    errors = [e for e in json_lines(done.stdout) if e["level"] == "error"]
    assert errors and all(e["url"] == url for e in errors)
    assert any("cannot open the link" in e.get("error", "") for e in errors)


def test_the_example_config_on_a_board_without_the_adapter(tmp_path: Path) -> None:
    """The shipped example names /dev/cryo-unit; absent here, that is an error line."""
    if Path("/dev/cryo-unit").exists():
        pytest.skip("this machine has a /dev/cryo-unit")
    done = run_cryoctl("safe-stop", "--config", str(SYSTEMD / "cryoctl.example.toml"))
    assert done.returncode == 0, done.stderr
    errors = [e for e in json_lines(done.stdout) if e["level"] == "error"]
    assert errors and errors[0]["url"] == "n2+serial:///dev/cryo-unit"
    assert "/dev/cryo-unit" in errors[0]["error"]


def test_a_silent_unit_is_given_up_on_within_the_deadlines(tmp_path: Path) -> None:
    """A peer that accepts the connection and never answers.

    The N2 driver gives up on ID by itself (its own answer timeout, well inside
    safe-stop's 2 s for the connect); the in-process tests hold each deadline.
    """
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        url = f"n2+socket://127.0.0.1:{server.getsockname()[1]}"
        config = write_config(tmp_path / "cryoctl.toml", "n2", url)
        try:
            started = time.monotonic()
            done = run_cryoctl("safe-stop", "--config", str(config))
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            thread.join(timeout=5)
            for conn in accepted:
                conn.close()
    assert done.returncode == 0, done.stderr
    assert accepted  # it did connect
    # at most the three deadlines (2 + 1 + 1 s) and the interpreter's start
    assert elapsed < 8.0
    errors = [e for e in json_lines(done.stdout) if e["level"] == "error"]
    assert errors and all(e["url"] == url for e in errors)


@pytest.mark.parametrize(("text", "named"), [
    ('[unit]\nkind = "n2"\nurl = "n2+serial:///dev/cryo-unit"\nperiod_msec = 20\n',
     "unit.period_msec: unknown key"),
    ('[unit]\nkind = "n2"\n', "unit.url"),
    ('[unit]\nkind = "n2"\nurl = "modbus+tcp://127.0.0.1:5020"\n', "unit.url"),
])
def test_bad_config_is_exit_2_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "cryoctl.toml"
    config.write_text(text)
    done = run_cryoctl("safe-stop", "--config", str(config))
    assert done.returncode == 2
    assert done.stdout == ""  # nothing was logged: it did not get as far as the unit
    assert named in done.stderr
    assert all(line.startswith(f"{config}:") for line in done.stderr.splitlines())


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    done = run_cryoctl("safe-stop", "--config", str(tmp_path / "nowhere.toml"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"{tmp_path / 'nowhere.toml'}: no such file"
