"""``cryoctl sim cj-air``: the simulated CJ-Air unit on Modbus TCP or RTU, until SIGINT/SIGTERM.

Once listening it prints one line to stdout, e.g.
``READY cj-air url=modbus+tcp://127.0.0.1:5020?device_id=1 control=http://127.0.0.1:8765``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from simulator.base import RealClock
from simulator.cjair.rtu_server import serve_rtu
from simulator.cjair.server import UnitRunner, serve_tcp
from simulator.cjair.unit import CjAirUnit
from simulator.serve import Transport, common_options, host_port, run, serve_until_signalled

__all__ = ["cj_air"]

log = logging.getLogger(__name__)


def _transport(
    unit: CjAirUnit,
    *,
    rtu: Path | None,
    tcp: tuple[str, int] | None,
    baud: int,
    wire_baud: int | None,
) -> Transport:
    async def open_wire() -> tuple[str, Callable[[], Awaitable[None]]]:
        runner = UnitRunner(unit, wire_baud=wire_baud)
        try:
            if rtu is not None:
                device = await serve_rtu(runner, str(rtu))
                log.info("cj-air RTU on %s -> %s", rtu, device)
                return f"modbus+rtu://{rtu}?baud={baud}&parity=E&device_id={unit.device_id}", (
                    runner.close
                )
            assert tcp is not None
            host, port = await serve_tcp(runner, *tcp)
            return f"modbus+tcp://{host}:{port}?device_id={unit.device_id}", runner.close
        except BaseException:
            await runner.close()
            raise

    return open_wire


@click.command("cj-air")
@click.option("--tcp", "tcp", metavar="HOST:PORT", help="Modbus TCP.")
@click.option("--rtu", "rtu", type=click.Path(path_type=Path), help="Modbus RTU; symlink to a pty.")
@click.option(
    "--device-id", type=click.IntRange(1, 247), default=1, show_default=True, help="Unit id."
)
@click.option(
    "--baud",
    type=click.IntRange(min=300),
    default=19200,
    show_default=True,
    help="RTU line speed named in the URL (a pty itself ignores it; see --wire-baud).",
)
@common_options(
    speed_help="Physics and the unit's timers run this many times faster than real time.",
    wire_help="Delay every answer by the request's and the answer's 8E1 frame time at this rate.",
)
@click.option(
    "--valve-lag-ms",
    type=click.FloatRange(0, 10_000),
    default=30.0,
    show_default=True,
    help="Outlet valve travel time (more than 100 ms trips VALVE_MISMATCH).",
)
def cj_air(
    tcp: str | None,
    rtu: Path | None,
    device_id: int,
    baud: int,
    control: str | None,
    speed: float,
    wire_baud: int | None,
    log_level: str,
    valve_lag_ms: float,
) -> None:
    """The CJ-Air cold-air unit (ICD rev B, Modbus) on --tcp HOST:PORT or --rtu PATH."""
    if (rtu is None) == (tcp is None):
        raise click.UsageError("give exactly one of --tcp HOST:PORT or --rtu PATH")
    tcp_addr = host_port(tcp, "--tcp") if tcp is not None else None
    control_addr = host_port(control, "--control") if control is not None else None
    unit = CjAirUnit(clock=RealClock(speed), device_id=device_id, valve_lag_ms=valve_lag_ms)
    wire = _transport(
        unit,
        rtu=rtu.absolute() if rtu is not None else None,
        tcp=tcp_addr,
        baud=baud,
        wire_baud=wire_baud,
    )
    run(serve_until_signalled("cj-air", unit, wire, control_addr), log_level=log_level)
