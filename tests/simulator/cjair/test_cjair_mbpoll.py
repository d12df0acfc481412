"""mbpoll (libmodbus) reads and writes the TCP and the RTU unit."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from simulator.cjair.fixtures import CjAirHandle

pytestmark = pytest.mark.skipif(
    shutil.which("mbpoll") is None,
    reason="mbpoll not installed (apt-get install mbpoll; see the README's prerequisites)",
)


def mbpoll(target: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Poll once; arguments written ``=VALUE`` are values to write, after the target."""
    command = ["mbpoll", *target[:-1], "-a", "1", "-0", "-1", "-o", "1"]
    command += [a for a in args if not a.startswith("=")]
    command.append(target[-1])
    command += [a[1:] for a in args if a.startswith("=")]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)


def values(result: subprocess.CompletedProcess[str]) -> list[int]:
    assert result.returncode == 0, result.stderr
    return [int(v) for v in re.findall(r"^\[\d+\]:\s+(-?\d+)", result.stdout, re.MULTILINE)]


def _tcp(handle: CjAirHandle) -> list[str]:
    return ["-m", "tcp", "-p", str(handle.port), "127.0.0.1"]


def _rtu(handle: CjAirHandle) -> list[str]:
    return ["-m", "rtu", "-b", "19200", "-P", "even", str(handle.path)]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_mbpoll_reads_and_writes(transport: str, cjair_factory) -> None:  # type: ignore[no-untyped-def]
    handle = cjair_factory(transport=transport)
    target = _tcp(handle) if transport == "tcp" else _rtu(handle)
    inputs = values(mbpoll(target, "-t", "3", "-r", "0", "-c", "11"))
    assert len(inputs) == 11 and inputs[0] == 0x0102 and inputs[5] == 2
    assert values(mbpoll(target, "-t", "4", "-r", "0", "-c", "5")) == [3, 65236, 0, 1000, 20000]
    assert len(values(mbpoll(target, "-t", "1", "-r", "0", "-c", "7"))) == 7
    assert mbpoll(target, "-t", "4", "-r", "3", "=2500").returncode == 0
    assert mbpoll(target, "-t", "0", "-r", "4", "=1").returncode == 0
    assert values(mbpoll(target, "-t", "4", "-r", "3")) == [2500]
    assert values(mbpoll(target, "-t", "0", "-r", "4")) == [1]
    refused = mbpoll(target, "-t", "4", "-r", "3", "=50")
    assert refused.returncode != 0 and "Illegal data value" in refused.stderr
    unknown = mbpoll(target, "-t", "0", "-r", "5")
    assert unknown.returncode != 0 and "Illegal data address" in unknown.stderr
    assert handle.unit.state()["holding"]["WATCHDOG_MS"] == 2500
