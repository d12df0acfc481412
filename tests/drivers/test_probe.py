"""``cryoctl probe`` as a person runs it, against a scripted Modbus TCP peer."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from modbus_peer import ModbusPeer


@pytest.fixture
async def peer() -> AsyncIterator[ModbusPeer]:
    p = ModbusPeer()
    # FW 2.5, O2_LOW, outlet -30.0, no skin reading, nozzle F20, O2 19.0 %
    p.inputs = [0x0205, 1 << 4, 0xFED4, 0x8000, 0, 3, 190, 0, 0, 0, 9]
    p.discretes = [False, False, True, False, False, False, True]
    await p.start()
    yield p
    await p.stop()


async def probe(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryoctl", "probe", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_table(peer: ModbusPeer) -> None:
    code, out, err = await probe(peer.url)
    assert (code, err) == (0, "")
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["model"] == "CJ-Air" and rows["firmware"] == "2.5" and rows["kind"] == "cj-air"
    assert rows["nozzle"] == "F20" and rows["faults"] == "O2_LOW" and rows["o2_pct"] == "19"
    assert rows["skin_temp_c"] == "-" and rows["hose_connected"] == "yes"
    assert rows["fault_bits"] == "0x0010"
    # the probe configures nothing: reads, and the closing write of the outlet coil only
    assert set(peer.functions()) <= {1, 2, 4, 5}
    assert [r.address for r in peer.history if r.function_code == 5] == [0]


async def test_json(peer: ModbusPeer) -> None:
    code, out, _ = await probe(peer.url, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["identity"]["firmware"] == "2.5"
    assert doc["status"]["faults"] == ["O2_LOW"] and doc["status"]["outlet_temp_c"] == -30.0
    # read times as wall-clock UTC, not the host's bare monotonic seconds
    assert not [key for key in doc["status"] if key.endswith("_at_s")]
    for key in ("read_at", "valve_at", "telemetry_at"):
        read_at = datetime.fromisoformat(doc["status"][key])
        assert read_at.tzinfo is not None
        assert abs((datetime.now(UTC) - read_at).total_seconds()) < 30
    assert doc["status"]["echo_at"] is None  # the echo of a heartbeat the probe never wrote


async def test_unreachable_unit_is_exit_2_and_one_line() -> None:
    free = ModbusPeer()
    await free.start()
    url = free.url
    await free.stop()
    code, out, err = await probe(url)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"cryoctl probe: {url}: cannot open the link")


async def test_silent_unit_is_exit_2_and_one_line(peer: ModbusPeer) -> None:
    peer.silent = 1000
    code, _, err = await probe(peer.url, "--timeout-ms", "500")
    assert code == 2
    assert err.count("\n") == 1 and "no" in err and peer.url in err


@pytest.mark.parametrize("url", ["modbus+tcp://", "bogus://x", "modbus+rtu:///dev/x?baud=7"])
async def test_bad_url_is_exit_2_and_one_line(url: str) -> None:
    code, _, err = await probe(url)
    assert code == 2 and err.count("\n") == 1 and url in err


@pytest.mark.parametrize("fixture", ["cjair_tcp", "cjair_rtu", "n2_tcp", "n2_pty"])
def test_probe_against_each_simulated_unit(fixture: str, request: pytest.FixtureRequest) -> None:
    import subprocess

    from contract_kinds import TARGETS

    target = TARGETS[fixture]
    url = target.url(request.getfixturevalue(fixture).url)
    out = subprocess.run(
        [sys.executable, "-m", "cryoctl", "probe", url, "--json"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert (out.returncode, out.stderr) == (0, "")
    doc = json.loads(out.stdout)
    assert doc["kind"] == target.kind.device_kind.value
    assert doc["identity"]["url"] == url and doc["identity"]["model"]
    assert doc["status"]["valve_commanded"] is False
    assert doc["status"]["nozzle"] in target.kind.present_nozzles
    assert set(doc["status"]["faults"]) <= set(target.kind.fault_bits)


@pytest.mark.parametrize(
    ("fixture", "scheme"), [("n2_tcp", "modbus+tcp"), ("cjair_tcp", "n2+socket")]
)
def test_probe_of_the_wrong_kind_of_unit_is_exit_2(
    fixture: str, scheme: str, request: pytest.FixtureRequest
) -> None:
    import subprocess

    handle = request.getfixturevalue(fixture)
    url = f"{scheme}://{handle.host}:{handle.port}"
    out = subprocess.run(
        [sys.executable, "-m", "cryoctl", "probe", url, "--timeout-ms", "1500"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"cryoctl probe: {url}")
