"""``cryoctl sim cj-air``: the simulated CJ-Air unit on Modbus TCP or RTU, until SIGINT/SIGTERM.

Once listening it prints one line to stdout, e.g.
``READY cj-air url=modbus+tcp://127.0.0.1:5020?device_id=1 control=http://127.0.0.1:8765``,
so scripts (and tests) that bind port 0 learn the real addresses.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from simulator.base import RealClock
from simulator.cjair.rtu_server import serve_rtu
from simulator.cjair.server import UnitRunner, serve_tcp
from simulator.cjair.unit import CjAirUnit
from simulator.control import ControlServer, serve_control

__all__ = ["cj_air"]

log = logging.getLogger(__name__)


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    return host, int(port)


async def _serve(
    unit: CjAirUnit,
    *,
    rtu: Path | None,
    tcp: tuple[str, int] | None,
    control: tuple[str, int] | None,
    baud: int,
    wire_baud: int | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = UnitRunner(unit, wire_baud=wire_baud)
    ctl: ControlServer | None = None
    try:
        if rtu is not None:
            device = await serve_rtu(runner, str(rtu))
            url = f"modbus+rtu://{rtu}?baud={baud}&parity=E&device_id={unit.device_id}"
            log.info("cj-air RTU on %s -> %s", rtu, device)
        else:
            assert tcp is not None
            host, port = await serve_tcp(runner, *tcp)
            url = f"modbus+tcp://{host}:{port}?device_id={unit.device_id}"
        if control is not None:
            ctl = await serve_control(unit, *control)
        ready = f"READY cj-air url={url}" + (f" control={ctl.url}" if ctl else "")
        click.echo(ready)
        log.info("%s", ready)
        await stop.wait()
        log.info("cj-air simulator stopping")
    finally:
        if ctl is not None:
            await ctl.close()
        await runner.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


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
@click.option("--control", metavar="HOST:PORT", help="HTTP + JSON control channel.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01, max=1000.0),
    default=1.0,
    show_default=True,
    help="Physics and the unit's timers run this many times faster than real time.",
)
@click.option(
    "--wire-baud",
    type=click.IntRange(min=300),
    default=None,
    help="Delay every answer by the request's and the answer's 8E1 frame time at this rate.",
)
@click.option(
    "--valve-lag-ms",
    type=click.FloatRange(0, 10_000),
    default=30.0,
    show_default=True,
    help="Outlet valve travel time (more than 100 ms trips VALVE_MISMATCH).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug logs every frame in and out.",
)
def cj_air(
    tcp: str | None,
    rtu: Path | None,
    device_id: int,
    baud: int,
    control: str | None,
    speed: float,
    wire_baud: int | None,
    valve_lag_ms: float,
    log_level: str,
) -> None:
    """The CJ-Air cold-air unit (ICD rev B, Modbus) on --tcp HOST:PORT or --rtu PATH."""
    if (rtu is None) == (tcp is None):
        raise click.UsageError("give exactly one of --tcp HOST:PORT or --rtu PATH")
    tcp_addr = _host_port(tcp, "--tcp") if tcp is not None else None
    control_addr = _host_port(control, "--control") if control is not None else None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("uvicorn").setLevel(max(logging.INFO, logging.getLogger().level))
    unit = CjAirUnit(clock=RealClock(speed), device_id=device_id, valve_lag_ms=valve_lag_ms)
    try:
        asyncio.run(
            _serve(
                unit,
                rtu=rtu.absolute() if rtu is not None else None,
                tcp=tcp_addr,
                control=control_addr,
                baud=baud,
                wire_baud=wire_baud,
            )
        )
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
