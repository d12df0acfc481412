"""pytest fixtures: an N2 unit on a free TCP port or a pty, with its control channel.

Each started unit runs on its own event loop in a daemon thread; the handle gives the
driver URL, the in-process unit (thread-safe), the control channel's URL and the raw
address. Everything is stopped and joined at the end of the test.

    def test_x(n2_tcp):            # n2+socket://127.0.0.1:PORT
    def test_y(n2_pty):            # n2+serial:///tmp/.../n2?baud=115200
    def test_z(n2_factory):        # n2_factory("tcp", config=N2Config(wdt_ms=5000), speed=10)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

from simulator.base import RealClock
from simulator.n2.runner import N2Runner
from simulator.n2.unit import N2Config, N2Unit

__all__ = ["N2Handle", "n2_factory", "n2_pty", "n2_tcp"]


@dataclasses.dataclass(frozen=True)
class N2Handle:
    """A running simulated N2 unit."""

    url: str
    unit: N2Unit
    clock: RealClock
    control_url: str | None
    host: str | None = None
    port: int | None = None
    path: str | None = None


N2Factory = Callable[..., N2Handle]


@pytest.fixture
def n2_factory(tmp_path: Path) -> Iterator[N2Factory]:
    """Start N2 units: ``factory(transport="tcp"|"pty", *, config, speed, wire_baud, control)``."""
    runners: list[N2Runner] = []
    counter = itertools.count()

    def start(
        transport: Literal["tcp", "pty"] = "tcp",
        *,
        config: N2Config | None = None,
        speed: float = 1.0,
        wire_baud: int | None = None,
        control: bool = True,
    ) -> N2Handle:
        clock = RealClock(speed)
        unit = N2Unit(clock=clock, config=config)
        path = tmp_path / f"n2-{next(counter)}" if transport == "pty" else None
        runner = N2Runner(unit, clock, pty_path=path, wire_baud=wire_baud, control=control)
        runner.start()
        runners.append(runner)
        if path is not None:
            return N2Handle(
                url=f"n2+serial://{path}?baud=115200",
                unit=unit,
                clock=clock,
                control_url=runner.control_url,
                path=str(path),
            )
        assert runner.host is not None and runner.port is not None
        return N2Handle(
            url=f"n2+socket://{runner.host}:{runner.port}",
            unit=unit,
            clock=clock,
            control_url=runner.control_url,
            host=runner.host,
            port=runner.port,
        )

    try:
        yield start
    finally:
        for runner in reversed(runners):
            runner.stop()


@pytest.fixture
def n2_tcp(n2_factory: N2Factory) -> N2Handle:
    """An N2 unit on a free TCP port of 127.0.0.1 (raw bytes), with its control channel."""
    return n2_factory("tcp")


@pytest.fixture
def n2_pty(n2_factory: N2Factory) -> N2Handle:
    """An N2 unit on a pty (``.path`` is the symlink), with its control channel."""
    return n2_factory("pty")
