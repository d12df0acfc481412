"""``cryoctl sim --help`` promises only the transports some option opens."""

from __future__ import annotations

import subprocess
import sys


def _help(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cryoctl", "sim", *args, "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def test_the_group_names_tcp_and_pty_and_no_serial_port_to_open() -> None:
    text = _help()
    assert "on TCP or a pseudo-terminal (pty)" in text
    assert "serial port is not offered" in text


def test_each_unit_has_an_option_for_each_transport_the_group_names() -> None:
    n2, cj_air = _help("n2"), _help("cj-air")
    assert "--tcp HOST:PORT" in n2 and "--pty PATH" in n2
    assert "--tcp HOST:PORT" in cj_air and "--rtu PATH" in cj_air
    for text in (n2, cj_air):
        assert "--serial" not in text.replace("--serial-number", "")
