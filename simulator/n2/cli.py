"""``cryoctl sim n2``: the simulated N2 unit on a pty or a TCP port, until SIGINT/SIGTERM.

Once listening it prints one line to stdout, e.g.
``READY n2 url=n2+socket://127.0.0.1:5021 control=http://127.0.0.1:8766``, so scripts
(and tests) that bind port 0 learn the real addresses.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from simulator.base import RealClock
from simulator.control import ControlServer, serve_control
from simulator.n2.server import N2LineServer, serve_pty, serve_tcp
from simulator.n2.unit import N2Config, N2Unit

__all__ = ["n2"]

log = logging.getLogger(__name__)


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    return host, int(port)


async def _serve(
    unit: N2Unit,
    clock: RealClock,
    *,
    pty: Path | None,
    tcp: tuple[str, int] | None,
    control: tuple[str, int] | None,
    wire_baud: int | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    line: N2LineServer
    if pty is not None:
        line = await serve_pty(unit, clock, pty, wire_baud=wire_baud)
        url = f"n2+serial://{pty}?baud=115200"
    else:
        assert tcp is not None
        tcp_line = await serve_tcp(unit, clock, *tcp, wire_baud=wire_baud)
        line = tcp_line
        url = f"n2+socket://{tcp_line.host}:{tcp_line.port}"
    ctl: ControlServer | None = None
    try:
        if control is not None:
            ctl = await serve_control(unit, *control)
        ready = f"READY n2 url={url}" + (f" control={ctl.url}" if ctl else "")
        click.echo(ready)
        log.info("%s", ready)
        await stop.wait()
        log.info("n2 simulator stopping")
    finally:
        if ctl is not None:
            await ctl.close()
        await line.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@click.command("n2")
@click.option("--pty", "pty", type=click.Path(path_type=Path), help="Symlink to a new pty.")
@click.option("--tcp", "tcp", metavar="HOST:PORT", help="Raw TCP (pyserial socket:// URLs).")
@click.option("--control", metavar="HOST:PORT", help="HTTP + JSON control channel.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01, max=1000.0),
    default=1.0,
    show_default=True,
    help="The unit's clock runs this many times faster than real time: physics, and the "
    "lease and WDT with it.",
)
@click.option(
    "--wire-baud",
    type=click.IntRange(min=300),
    default=None,
    help="Delay every line by its 8N1 frame time at this baud rate.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug logs every line in and out.",
)
@click.option(
    "--serial-number",
    default=N2Config.serial,
    show_default=True,
    help="Serial number the unit gives in its ID answer.",
)
@click.option(
    "--nozzle",
    default=N2Config.nozzle,
    show_default=True,
    help="Nozzle fitted at power-on (A B C D M P, or - for none).",
)
def n2(
    pty: Path | None,
    tcp: str | None,
    control: str | None,
    speed: float,
    wire_baud: int | None,
    log_level: str,
    serial_number: str,
    nozzle: str,
) -> None:
    """The N2 cryodestructor (ICD rev C line protocol) on --pty PATH or --tcp HOST:PORT."""
    if (pty is None) == (tcp is None):
        raise click.UsageError("give exactly one of --pty PATH or --tcp HOST:PORT")
    tcp_addr = _host_port(tcp, "--tcp") if tcp is not None else None
    control_addr = _host_port(control, "--control") if control is not None else None
    try:
        config = N2Config(serial=serial_number, nozzle=nozzle)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("uvicorn").setLevel(max(logging.INFO, logging.getLogger().level))
    pty = pty.absolute() if pty is not None else None
    clock = RealClock(speed)
    unit = N2Unit(clock=clock, config=config)
    try:
        asyncio.run(
            _serve(unit, clock, pty=pty, tcp=tcp_addr, control=control_addr, wire_baud=wire_baud)
        )
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
